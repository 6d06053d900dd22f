/*
 * family/family.c - the model families reco_train knows
 */
#include "reco.h"

#include "family/family.h"

static const RecoFamily *const families[] = {
	&reco_family_als, &reco_family_mlp, &reco_family_itemknn, &reco_family_ease
};

const RecoFamily *
reco_family(const char *name)
{
	for (int i = 0; i < lengthof(families); i++)
		if (strcmp(families[i]->name, name) == 0)
			return families[i];
	ereport(ERROR,
			(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
			 errmsg("unknown algorithm \"%s\"", name),
			 errhint("Available algorithms: als, mlp, itemknn, ease.")));
	return NULL;				/* keep the compiler quiet */
}
