/*  geak-generator - the generator role service (policy only; transport, decoding,
    health and threads come from lib/geak_service). Until the LLM roles
    land it registers, answers health, and refuses work explicitly. */
#include "geak_service.h"

int
main (int argc, char *argv [])
{
    const geak_service_def_t def = {
        .role = "generator", .service = GEAK_SERVICE_GENERATOR, .implementation = "none",
        .handle = geak_service_handle_unsupported,
    };
    return geak_service_main (&def, argc, argv);
}
