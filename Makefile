# reco: recommendations inside PostgreSQL (PGXS build)

MODULE_big = reco
OBJS = \
	src/als.o \
	src/cache.o \
	src/csr.o \
	src/manage.o \
	src/params.o \
	src/reco.o \
	src/serve.o \
	src/store.o \
	src/topk.o \
	src/train.o

EXTENSION = reco
DATA = reco--1.0.sql
PGFILEDESC = "reco - recommendations inside PostgreSQL"

REGRESS = schema train serve agg
REGRESS_OPTS = --inputdir=.

PG_CONFIG ?= pg_config
PG_CFLAGS += -Wextra -Wno-unused-parameter -Wno-missing-field-initializers -Wno-sign-compare
PG_CPPFLAGS += $(shell pkg-config --cflags openblas)
SHLIB_LINK += $(shell pkg-config --libs openblas) -lm

PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

# The numerical core is hot: let the compiler vectorize it.
src/als.o src/topk.o src/csr.o: override CFLAGS += -O3
