/*
 * resources.c - the thread and memory settings of training runs, the glue
 * between the worker threads and PostgreSQL's interrupts, and the memory
 * budget every run charges before it allocates
 */
#include "resources.h"

#include <limits.h>

#include "miscadmin.h"
#include "utils/guc.h"

#include "bounds.h"

int			reco_train_threads = 1;
int			reco_max_train_memory = RECO_DEFAULT_TRAIN_MEMORY_KB;

/* Define reco.train_threads and reco.max_train_memory: superuser only */
void
reco_resources_init(void)
{
	DefineCustomIntVariable("reco.train_threads",
							"Number of threads a training run may use.",
							"Rows are solved in parallel; the result does not depend on the number of threads. Only superusers can change it: threads are a machine-wide resource.",
							&reco_train_threads,
							1, 1, RECO_MAX_TRAIN_THREADS,
							PGC_SUSET, 0,
							NULL, NULL, NULL);
	DefineCustomIntVariable("reco.max_train_memory",
							"Largest amount of memory one training, evaluation, refresh or tuning run may allocate.",
							"Every large buffer is counted before it is allocated; a run that would need more fails with SQLSTATE 54000. Only superusers can change it.",
							&reco_max_train_memory,
							RECO_DEFAULT_TRAIN_MEMORY_KB, RECO_MIN_TRAIN_MEMORY_KB, INT_MAX,
							PGC_SUSET, GUC_UNIT_KB,
							NULL, NULL, NULL);
}

/*
 * Must the workers stop?  Only for an interrupt CHECK_FOR_INTERRUPTS() can
 * process: one it cannot would stay pending, and the job would stop again
 * at once on every resume.
 */
static bool
interrupt_pending(void *arg)
{
	return INTERRUPTS_PENDING_CONDITION() && INTERRUPTS_CAN_BE_PROCESSED();
}

void
reco_workers_run(WorkerJob *job, int nthreads)
{
	job->interrupted = interrupt_pending;
	job->poll_arg = NULL;
	for (;;)
	{
		/* workers_run returns with every worker joined */
		int64		stopped = workers_run(job, nthreads);

		if (stopped >= job->end)
			break;
		CHECK_FOR_INTERRUPTS();
		job->begin = stopped;
	}
}

/* Start the budget of one run at reco.max_train_memory */
void
reco_budget_init(RecoBudget *b, const char *run)
{
	b->run = run;
	b->limit = (double) reco_max_train_memory * 1024.0;
	b->used = 0.0;
	b->peak = 0.0;
}

/* Count bytes about to be allocated, or fail before they are */
void
reco_budget_charge(RecoBudget *b, double bytes, const char *what)
{
	if (b->used + bytes > b->limit)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("%s would need %.1f MB for %s, more than reco.max_train_memory (%.1f MB)",
						b->run, (b->used + bytes) / (1024.0 * 1024.0), what,
						b->limit / (1024.0 * 1024.0)),
				 errdetail("The run already held %.1f MB.", b->used / (1024.0 * 1024.0)),
				 errhint("Ask a superuser to raise reco.max_train_memory if the server has the memory, or use fewer factors, threads or events.")));
	b->used += bytes;
	b->peak = Max(b->peak, b->used);
}

/* Give back bytes that were freed */
void
reco_budget_release(RecoBudget *b, double bytes)
{
	b->used = Max(0.0, b->used - bytes);
}

/* Charge, then allocate (huge allocations allowed) in the current context */
void *
reco_budget_alloc(RecoBudget *b, Size bytes, const char *what)
{
	reco_budget_charge(b, (double) bytes, what);
	return palloc_extended(Max(bytes, 1), MCXT_ALLOC_HUGE);
}

/* Free what reco_budget_alloc gave, and release its charge */
void
reco_budget_free(RecoBudget *b, void *p, Size bytes)
{
	pfree(p);
	reco_budget_release(b, (double) bytes);
}
