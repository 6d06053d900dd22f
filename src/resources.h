/*
 * resources.h - what one training, evaluation, refresh or tuning run may
 * use: threads (reco.train_threads) and memory (reco.max_train_memory)
 */
#ifndef RECO_RESOURCES_H
#define RECO_RESOURCES_H

#include "postgres.h"

#include "workers.h"

extern int	reco_train_threads;
extern int	reco_max_train_memory;	/* kB */

/* Define the two settings (from _PG_init) */
extern void reco_resources_init(void);

/*
 * Run a job on the worker threads until it is done.  An interrupt stops the
 * workers, joins them, and only then runs CHECK_FOR_INTERRUPTS(); if that
 * returns (the interrupt was not a cancel), the job resumes where it
 * stopped.
 */
extern void reco_workers_run(WorkerJob *job, int nthreads);

/*
 * The memory budget of one run: every large buffer is charged before it is
 * allocated and released when freed, and a charge past the limit fails with
 * program_limit_exceeded naming what needed it.  Small fixed-size state is
 * not counted.
 */
typedef struct RecoBudget
{
	const char *run;			/* "training", "evaluation", ... */
	double		limit;			/* bytes */
	double		used;
	double		peak;
} RecoBudget;

extern void reco_budget_init(RecoBudget *b, const char *run);
extern void reco_budget_charge(RecoBudget *b, double bytes, const char *what);
extern void reco_budget_release(RecoBudget *b, double bytes);
extern void *reco_budget_alloc(RecoBudget *b, Size bytes, const char *what);
extern void reco_budget_free(RecoBudget *b, void *p, Size bytes);

#endif
