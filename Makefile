# reco: recommendations inside PostgreSQL (PGXS build)

MODULE_big = reco
OBJS = \
	src/als.o \
	src/cache.o \
	src/coldstart.o \
	src/csr.o \
	src/evaluate.o \
	src/events.o \
	src/explain.o \
	src/forget.o \
	src/manage.o \
	src/metrics.o \
	src/online.o \
	src/params.o \
	src/reco.o \
	src/refresh.o \
	src/resolve.o \
	src/serve.o \
	src/split.o \
	src/store.o \
	src/topk.o \
	src/train.o

EXTENSION = reco
DATA = reco--1.0.sql reco--1.0--1.1.sql
PGFILEDESC = "reco - recommendations inside PostgreSQL"

REGRESS = schema train serve agg online evaluate errors input_errors forget
REGRESS_OPTS = --inputdir=.
ISOLATION = online_same_user online_same_item refresh_race cache_follows \
	train_catch_up refresh_behind_training refresh_behind_refresh

PG_CONFIG ?= pg_config
PG_CFLAGS += -Wextra -Wno-unused-parameter -Wno-missing-field-initializers -Wno-sign-compare
PG_CPPFLAGS += $(shell pkg-config --cflags openblas)
SHLIB_LINK += $(shell pkg-config --libs openblas) -lm

PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

# PGXS tracks no header dependencies
$(OBJS): $(wildcard src/*.h)

# The numerical core is hot: let the compiler vectorize it.
src/als.o src/topk.o src/csr.o src/metrics.o: override CFLAGS += -O3

# Unit tests of the numerical core, built without the server
CORE_SRCS = test/core_test.c src/als.c src/csr.c src/metrics.c src/topk.c
test/core_test: $(CORE_SRCS) src/als.h src/csr.h src/metrics.h src/topk.h
	$(CC) -O2 -Wall -Wextra -Werror $(shell pkg-config --cflags openblas) -o $@ $(CORE_SRCS) $(shell pkg-config --libs openblas) -lm

.PHONY: core-test
core-test: test/core_test
	./test/core_test

EXTRA_CLEAN = test/core_test
