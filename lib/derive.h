/*
 * derive.h -- symbolic reverse mode over the DAG.
 */
#ifndef GP_DERIVE_H
#define GP_DERIVE_H
#include "dag.h"

/*
 * out[i] = d f / d wrt[i].  The nodes wrt[] are held as independent
 * variables: the sweep stops at them, so for a named intermediate the result
 * is the partial derivative of f's equations with respect to that name.
 * When f is dataset-level, every wrt[i] must be static (a param); a caller
 * that cannot promise it gets GP_EINTERNAL.
 * The result shares subterms with f and with each other.
 */
gp_status derive_grad(gp_ctx *c, gp_id f, size_t nwrt, const gp_id *wrt, gp_id *out);
#endif
