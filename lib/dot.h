/*
 * dot.h -- the network of a case as a graph of units, and its Graphviz DOT
 * text (gp_dot_render in gradproof.h).
 *
 * A unit is one value the case names: an input or target element, or a
 * definition element (the loss included), drawn only when the loss or an
 * output uses it.  Names that denote the same DAG node (phi0[1] = x[1],
 * phi = a2) are one unit with several names.  Params are not units: a param
 * that multiplies unit u in v's equation labels the edge u -> v, the others
 * (biases) are written on v.  The graph is exposed here for the unit tests.
 */
#ifndef GP_DOT_H
#define GP_DOT_H
#include "build.h"

#define DOT_NONE UINT32_MAX

typedef enum dot_kind { DOT_INPUT, DOT_TARGET, DOT_HIDDEN, DOT_OUTPUT, DOT_LOSS } dot_kind;

typedef struct dot_unit {
    gp_id node;              /* its DAG node: an input/target leaf or a definition's node */
    uint8_t kind;            /* dot_kind */
    uint8_t rooted;          /* depends on an input */
    uint8_t owns;            /* the highlighted param occurs in its own equation */
    uint8_t dep;             /* ... or in the equation of a unit it depends on */
    uint8_t toloss;          /* the loss depends on it (the loss itself included) */
    uint8_t hot;             /* dep && toloss: on a chain-rule path from the loss to the param */
    uint32_t layer;          /* rank from the inputs (0) towards the loss */
    uint32_t first_name;     /* its names: name[first_name .. first_name + nnames), */
    uint32_t nnames;         /* the one the DAG prints it by first */
    uint32_t elem;           /* smallest element index among its names: case order */
    uint64_t npaths;         /* chain-rule paths from it down to the param (saturating) */
} dot_unit;

typedef struct dot_edge {
    uint32_t from, to;       /* units: `to`'s equation uses `from` */
    uint32_t first_param;    /* the params that multiply `from` in `to`'s equation: */
    uint32_t nparams;        /* eparam[first_param ..), leaf indices, ascending */
    uint8_t hot;             /* on a chain-rule path (from->hot && to->hot) */
    uint8_t weight;          /* labelled with the highlighted param, and `to` is hot */
} dot_edge;

typedef struct dot_graph {
    dot_unit *unit;          /* units in DAG id order, a topological order */
    size_t nunit;
    dot_edge *edge;          /* edges by `to`, then by `from` */
    size_t nedge;
    uint32_t *in_first;      /* edges into unit v: edge[in_first[v] .. in_first[v+1]) */
    gp_name *name;           /* unit names */
    uint32_t *name_elem;     /* the element of each name */
    size_t nname;
    uint32_t *eparam;        /* edge labels, see dot_edge */
    size_t neparam;
    uint32_t *unit_of;       /* size ctx->nnode: unit of a node, or DOT_NONE */
    uint32_t loss;           /* the loss unit, or DOT_NONE */
    long hl;                 /* leaf index of the highlighted param, or -1 */
    uint64_t npaths;         /* chain-rule paths from the loss to it (saturating) */
} dot_graph;

/* Build the unit graph of a case; hl is the leaf index of a param to
   highlight, or -1.  Iterative throughout.  dot_graph_free() releases it,
   also after a failure. */
gp_status dot_graph_build(dot_graph *g, gp_case *cs, long hl);
void dot_graph_free(dot_graph *g);
/* The unit whose names include the element or leaf written `name` as in the
   case ("x1", "h1[2]"), or DOT_NONE. */
uint32_t dot_graph_find(const dot_graph *g, const gp_case *cs, const char *name);
#endif
