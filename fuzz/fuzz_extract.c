/*  fuzz_extract.c - libFuzzer target for everything that reads LLM reply
    bytes: code extraction, prose extraction, the provider reply parsers and
    the replay JSONL parser. None may crash, leak or return an empty string
    as "code". */
#include "geak_prelude.h"
#include "geak_extract.h"
#include "geak_llm_wire.h"
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
    const geak_llm_wire_t *wires [] = { &geak_llm_wire_openai, &geak_llm_wire_anthropic };
    for (int w = 0; w < 2; w++) {
        geak_llm_reply_t reply = { 0 };
        char *error = NULL;
        geak_rc_t prc = wires [w]->parse (text, size, &reply, &error);
        if ((prc == GEAK_OK) != (error == NULL) || (prc == GEAK_OK && reply.count == 0))
            abort ();
        free (error);
        geak_llm_reply_clear (&reply);
        //  the same bytes as one streamed event
        (void) wires [w]->event (&reply, "", text, size);
        geak_llm_reply_clear (&reply);
    }
    geak_rc_t rc;
    geak_replay_t *replay = geak_replay_parse (text, size, &rc);
    if (replay)
        (void) geak_replay_find (replay, "generator", "t", "i", 1, 2);
    geak_replay_destroy (&replay);
    return 0;
}
