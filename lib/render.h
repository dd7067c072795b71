/*
 * render.h -- reports: the derivative table in text, Markdown, LaTeX and JSON.
 */
#ifndef GP_RENDER_H
#define GP_RENDER_H
#include "build.h"
#include "buf.h"

/* Resolve a param written as in the case ("w111", "p[1][2]") to its leaf
   index; -1 with a diagnostic (and a suggestion) when it is not a param. */
long render_find_param(gp_case *cs, const char *name);
/* Append Unicode text (as the text renderers write it: w₂₁₁, ŷ, −, ·, ∂)
   as LaTeX text: specials escaped, subscripts, hats, Greek letters and
   mathematical signs in inline math; anything else unknown becomes '?'. */
void render_latex_text(buf *out, const char *utf8);
/* Append text as Markdown text: the characters Markdown would read as
   markup escaped with a backslash. */
void render_md_text(buf *out, const char *s);
/* Append the JSON array of the context's diagnostics. */
void render_json_diagnostics(buf *out, const gp_ctx *c);
/* Append where an evaluation failed: "log of a negative number in C, line 4"
   (what, or the function at node; the definition that holds node and its
   line, see build_node_owner; else the node's own label, if any).  With
   claim, a node that no definition holds but the claim's own sides do is
   placed in the claim: "... in the claim, line 9". */
void render_fault_where(buf *out, const gp_case *cs, gp_id node, const char *what, const claim *cl);
#endif
