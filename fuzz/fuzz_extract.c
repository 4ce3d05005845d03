/*  fuzz_extract.c - libFuzzer target for everything that reads LLM reply
    bytes: code extraction, prose extraction, the provider reply parsers and
    the replay JSONL parser. None may crash, leak or return an empty string
    as "code". */
#include "geak_prelude.h"
#include "geak_extract.h"
#include "geak_llm.h"
#include "geak_log.h"
#include "geak_replay.h"

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    static bool quiet = false;
    if (!quiet) {
        geak_log_set_level (GEAK_LOG_OFF);
        quiet = true;
    }
    const char *text = (const char *) data;
    geak_extract_kind_t kind;
    char *code = geak_extract_code (text, size, &kind);
    if ((code == NULL) != (kind == GEAK_EXTRACT_NONE))
        abort ();
    if (code && code [0] == '\0')
        abort ();
    free (code);
    char *prose = geak_extract_prose (text, size, 64);
    if (prose && (prose [0] == '\0' || strlen (prose) > 64))
        abort ();
    free (prose);
    for (int provider = GEAK_LLM_OPENAI; provider <= GEAK_LLM_ANTHROPIC; provider++) {
        geak_llm_result_t result = { 0 };
        char *error = NULL;
        geak_rc_t rc = geak_llm_parse_reply ((geak_llm_provider_t) provider, text, size,
                                             &result, &error);
        if ((rc == GEAK_OK) != (error == NULL) || (rc == GEAK_OK && result.count == 0))
            abort ();
        free (error);
        geak_llm_result_clear (&result);
    }
    geak_rc_t rc;
    geak_replay_t *replay = geak_replay_parse (text, size, &rc);
    if (replay)
        (void) geak_replay_find (replay, "generator", "t", "i", 1, 2);
    geak_replay_destroy (&replay);
    return 0;
}
