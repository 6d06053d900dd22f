# reco: recommendations inside PostgreSQL (PGXS build)

MODULE_big = reco
# The neural core (src/core/): plain C, linked in and unit-tested alone
NN_SRCS = src/core/embedding.c src/core/layers.c src/core/loss.c src/core/mlp.c src/core/optim.c \
	src/core/recnet.c
NN_OBJS = $(NN_SRCS:.c=.o)
OBJS = \
	src/als.o \
	src/cache.o \
	src/csr.o \
	src/evaluate.o \
	src/events.o \
	src/explain.o \
	src/family/als.o \
	src/family/als_coldstart.o \
	src/family/als_fit.o \
	src/family/als_resolve.o \
	src/family/family.o \
	src/family/itemknn.o \
	src/family/mlp.o \
	src/forget.o \
	src/fresh.o \
	src/knn.o \
	src/hygiene.o \
	src/manage.o \
	src/metrics.o \
	src/online.o \
	src/params.o \
	src/reco.o \
	src/refresh.o \
	src/repeat.o \
	src/resources.o \
	src/serve.o \
	src/split.o \
	src/storage.o \
	src/sweep.o \
	src/tokens.o \
	src/topk.o \
	src/train.o \
	src/workers.o \
	$(NN_OBJS)

EXTENSION = reco
DATA = reco--1.0.sql reco--1.0--1.1.sql
PGFILEDESC = "reco - recommendations inside PostgreSQL"

REGRESS = schema train serve agg online evaluate errors input_errors resources forget security mlp itemknn repeat fresh hygiene hygiene_edges
REGRESS_OPTS = --inputdir=.
ISOLATION = online_same_user online_same_item online_opposite_order online_repeatable_read refresh_race knn_refresh_race cache_follows \
	train_catch_up refresh_behind_training refresh_behind_refresh drop_in_flight forget_races mlp_online_same_user items_follow_version

PG_CONFIG ?= pg_config
PG_CFLAGS += -Wextra -Wno-unused-parameter -Wno-missing-field-initializers -Wno-sign-compare
# The serial OpenBLAS (Debian libopenblas-serial-dev): the pthread build
# starts nproc - 1 threads in every backend that loads reco.so, serving-only
# ones included, and reco runs its own workers (src/workers.c) anyway.  It is
# linked by path with an rpath, so the libopenblas.so.0 alternative does not
# matter; without the package, the default OpenBLAS is used.
MULTIARCH := $(shell $(CC) -print-multiarch 2>/dev/null)
OPENBLAS_PC ?= /usr/lib/$(MULTIARCH)/openblas-serial/pkgconfig
ifneq ($(wildcard $(OPENBLAS_PC)/openblas.pc),)
BLAS_CFLAGS := $(shell PKG_CONFIG_PATH=$(OPENBLAS_PC) pkg-config --cflags openblas)
BLAS_LIBDIR := $(shell PKG_CONFIG_PATH=$(OPENBLAS_PC) pkg-config --variable=libdir openblas)
BLAS_LIBS := -L$(BLAS_LIBDIR) -Wl,-rpath,$(BLAS_LIBDIR) -lopenblas
else
$(warning reco: serial OpenBLAS not found in $(OPENBLAS_PC); every backend loading reco will start OpenBLAS threads)
BLAS_CFLAGS := $(shell pkg-config --cflags openblas)
BLAS_LIBS := $(shell pkg-config --libs openblas)
endif
PG_CPPFLAGS += -I$(srcdir)/src $(BLAS_CFLAGS)
SHLIB_LINK += $(BLAS_LIBS) -lpthread -lm

PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

# PGXS tracks no header dependencies
$(OBJS): $(wildcard src/*.h src/family/*.h src/core/*.h)

# The numerical core is hot: let the compiler vectorize it.
src/als.o src/sweep.o src/topk.o src/csr.o src/metrics.o: override CFLAGS += -O3
$(NN_OBJS): override CFLAGS += -O3 -fno-math-errno

# Unit tests of the numerical core, built without the server
CORE_SRCS = test/core_test.c src/als.c src/csr.c src/metrics.c src/sweep.c src/topk.c src/workers.c
test/core_test: $(CORE_SRCS) src/als.h src/csr.h src/metrics.h src/topk.h src/workers.h test/check.h
	$(CC) -O2 -Wall -Wextra -Werror $(BLAS_CFLAGS) -o $@ $(CORE_SRCS) $(BLAS_LIBS) -lpthread -lm

# The neural core (src/core/): gradient checks, optimizer steps, training
NN_HDRS = src/core/nn.h src/core/recnet.h src/core/rng.h src/workers.h
test/nn_test: test/nn_test.c $(NN_SRCS) src/workers.c $(NN_HDRS) test/check.h
	$(CC) -O2 -Wall -Wextra -Werror $(BLAS_CFLAGS) -o $@ test/nn_test.c $(NN_SRCS) src/workers.c $(BLAS_LIBS) -lpthread -lm

.PHONY: core-test
core-test: test/core_test test/nn_test
	./test/core_test
	./test/nn_test

EXTRA_CLEAN = test/core_test test/nn_test bench/nn_bench bench/nn_parity bench/recnet_movielens

# Time an epoch of the neural core (bench/RESULTS.md)
bench/nn_bench: bench/nn_bench.c $(NN_SRCS) $(NN_HDRS)
	$(CC) -O3 -fno-math-errno -Wall -Wextra -Werror $(BLAS_CFLAGS) -o $@ bench/nn_bench.c $(NN_SRCS) $(BLAS_LIBS) -lm

# The seed's case trained by the core, for bench/nn_parity.py to replay in PyTorch
bench/nn_parity: bench/nn_parity.c $(NN_SRCS) $(NN_HDRS)
	$(CC) -O2 -Wall -Wextra -Werror $(BLAS_CFLAGS) -o $@ bench/nn_parity.c $(NN_SRCS) $(BLAS_LIBS) -lm

# The 'mlp' network on a MovieLens 100K fold (bench/recnet_movielens.sh)
bench/recnet_movielens: bench/recnet_movielens.c $(NN_SRCS) $(NN_HDRS)
	$(CC) -O3 -fno-math-errno -Wall -Wextra -Werror $(BLAS_CFLAGS) -o $@ bench/recnet_movielens.c $(NN_SRCS) $(BLAS_LIBS) -lm
