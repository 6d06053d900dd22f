/*
 * workers.h - the worker threads of a training run
 *
 * The one place reco starts threads.  A job is a range of items (rows)
 * handed out in small pieces under a lock; the calling thread works too and
 * polls for interrupts between its pieces and while it waits.  Workers start
 * with every signal blocked, never call back into the caller's runtime (they
 * run only the job's work function on plain arrays) and stop taking pieces
 * once the abort flag is set; every piece taken is finished, so the items
 * before the returned position are all done and a job can resume there.
 * No PostgreSQL headers: the glue hands in the interrupt poll.
 */
#ifndef RECO_WORKERS_H
#define RECO_WORKERS_H

#include <stdbool.h>
#include <stdint.h>

#define WORKERS_MAX 64

typedef struct WorkerJob
{
	int64_t		begin;			/* items [begin, end) */
	int64_t		end;

	/*
	 * End of the piece starting at item begin (> begin, <= end).  Pieces
	 * depend on the items only, never on the thread count.  NULL: one item.
	 */
	int64_t		(*cut) (void *arg, int64_t begin, int64_t end);
	/* Do items [begin, end) on thread number thread (0 is the caller) */
	void		(*work) (void *arg, int64_t begin, int64_t end, int thread);
	void	   *arg;

	/* True when the caller must stop (polled on the calling thread only) */
	bool		(*interrupted) (void *poll_arg);
	void	   *poll_arg;
} WorkerJob;

/*
 * Run the job on nthreads threads (1 to WORKERS_MAX; the caller is thread
 * 0, a thread that cannot start leaves its share to the others).  Returns
 * job->end when every item is done, or, when interrupted() said so, the
 * item where work stopped: all items before it are done, none after.
 */
extern int64_t workers_run(const WorkerJob *job, int nthreads);

#endif
