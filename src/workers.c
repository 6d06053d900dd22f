/*
 * workers.c - the worker threads of a training run (see workers.h)
 *
 * Threads are started per job rather than kept in a pool: a job is a
 * half-step of ALS (milliseconds to minutes), against which starting a
 * thread (tens of microseconds) is nothing, and a backend that is not
 * training then has no thread at all.
 */
#include "workers.h"

#include <pthread.h>
#include <signal.h>
#include <time.h>

/* How long the caller sleeps between interrupt polls once out of work */
#define POLL_NSEC (10 * 1000 * 1000)

typedef struct Shared
{
	pthread_mutex_t lock;
	pthread_cond_t finished;	/* a worker left */
	const WorkerJob *job;
	int64_t		next;			/* first item not handed out */
	bool		abort;
	int			running;		/* workers started and not yet finished */
} Shared;

typedef struct Worker
{
	Shared	   *shared;
	int			thread;
} Worker;

/* Hand out the next piece; false once the job is done or aborted */
static bool
take_piece(Shared *s, int64_t *begin, int64_t *end)
{
	const WorkerJob *job = s->job;
	bool		got = false;

	pthread_mutex_lock(&s->lock);
	if (!s->abort && s->next < job->end)
	{
		int64_t		stop = job->cut ? job->cut(job->arg, s->next, job->end) : s->next + 1;

		if (stop <= s->next || stop > job->end)
			stop = stop <= s->next ? s->next + 1 : job->end;
		*begin = s->next;
		*end = stop;
		s->next = stop;
		got = true;
	}
	pthread_mutex_unlock(&s->lock);
	return got;
}

/* Body of a worker thread: pieces until none is left or the job aborts */
static void *
worker_main(void *arg)
{
	Worker	   *w = arg;
	Shared	   *s = w->shared;
	int64_t		begin;
	int64_t		end;

	while (take_piece(s, &begin, &end))
		s->job->work(s->job->arg, begin, end, w->thread);

	pthread_mutex_lock(&s->lock);
	s->running--;
	pthread_cond_signal(&s->finished);
	pthread_mutex_unlock(&s->lock);
	return NULL;
}

/* Has the caller been interrupted?  Checked on the calling thread only. */
static bool
interrupted(const WorkerJob *job)
{
	return job->interrupted != NULL && job->interrupted(job->poll_arg);
}

/* Start threads 1 .. n-1 with every signal blocked, then restore our mask */
static void
start_workers(Shared *s, Worker *workers, pthread_t *tids, bool *started, int n)
{
	sigset_t	all;
	sigset_t	saved;

	/* threads inherit the mask: the server's handlers must run on us only */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &saved);
	for (int t = 1; t < n; t++)
	{
		workers[t] = (Worker) {s, t};
		pthread_mutex_lock(&s->lock);
		s->running++;
		pthread_mutex_unlock(&s->lock);
		started[t] = pthread_create(&tids[t], NULL, worker_main, &workers[t]) == 0;
		if (!started[t])
		{
			pthread_mutex_lock(&s->lock);
			s->running--;
			pthread_mutex_unlock(&s->lock);
		}
	}
	pthread_sigmask(SIG_SETMASK, &saved, NULL);
}

int64_t
workers_run(const WorkerJob *job, int nthreads)
{
	Shared		s;
	Worker		workers[WORKERS_MAX];
	pthread_t	tids[WORKERS_MAX];
	bool		started[WORKERS_MAX] = {0};
	pthread_condattr_t attr;
	int64_t		begin;
	int64_t		end;

	if (job->begin >= job->end)
		return job->end;
	if (nthreads < 1)
		nthreads = 1;
	if (nthreads > WORKERS_MAX)
		nthreads = WORKERS_MAX;

	pthread_mutex_init(&s.lock, NULL);
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&s.finished, &attr);
	pthread_condattr_destroy(&attr);
	s.job = job;
	s.next = job->begin;
	s.abort = false;
	s.running = 0;

	start_workers(&s, workers, tids, started, nthreads);

	/* the caller works too, polling for interrupts between its pieces */
	for (;;)
	{
		if (interrupted(job))
		{
			pthread_mutex_lock(&s.lock);
			s.abort = true;
			pthread_mutex_unlock(&s.lock);
			break;
		}
		if (!take_piece(&s, &begin, &end))
			break;
		job->work(job->arg, begin, end, 0);
	}

	/* wait for the workers' last pieces, still polling */
	pthread_mutex_lock(&s.lock);
	while (s.running > 0)
	{
		struct timespec until;

		clock_gettime(CLOCK_MONOTONIC, &until);
		until.tv_nsec += POLL_NSEC;
		if (until.tv_nsec >= 1000000000L)
		{
			until.tv_sec++;
			until.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&s.finished, &s.lock, &until);
		if (!s.abort && s.running > 0 && interrupted(job))
			s.abort = true;
	}
	pthread_mutex_unlock(&s.lock);

	for (int t = 1; t < nthreads; t++)
		if (started[t])
			pthread_join(tids[t], NULL);
	pthread_cond_destroy(&s.finished);
	pthread_mutex_destroy(&s.lock);
	return s.next < job->end ? s.next : job->end;
}
