/*  llm.h - the LLM endpoint check `geak run` makes before a scan. */
#ifndef GEAK_CMD_LLM_H_INCLUDED
#define GEAK_CMD_LLM_H_INCLUDED

#include "geak_prelude.h"

//  Check the endpoint the roles will use: env (from --llm, may be NULL)
//  on top of GEAK_LLM_*. Without any LLM configuration here (the roles
//  hold it, e.g. on Kubernetes) it is skipped unless required. 0 ok or
//  skipped, 1 failed (the reason printed as "TOOL: ...").
int llm_preflight (const char *tool, char **env, bool required);

#endif
