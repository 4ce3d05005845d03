/*  geak keygen - make a CURVE key pair file (docs/transport.md, "CURVE").

    geak keygen [--force] FILE

    Writes FILE (mode 0600) with the lines "public=<z85>" and "secret=<z85>"
    and refuses to overwrite an existing file unless --force. Prints the
    public key alone on stdout (so `geak keygen w.key >> authorized` adds the
    new key to a broker's authorized-keys file) and its fingerprint on
    stderr. Never prints the secret key. */
#include "geak_prelude.h"
#include "geak_curve.h"
#include "geak_log.h"
#include "commands.h"

static void
s_usage (FILE *out)
{
    fprintf (out, "usage: geak keygen [--force] FILE\n"
                  "  writes a CURVE key pair (public=/secret= lines, mode 0600) to FILE,\n"
                  "  prints the public key (z85) on stdout\n");
}

int
geak_cmd_keygen (int argc, char **argv)
{
    const char *path = NULL;
    bool force = false;
    for (int i = 1; i < argc; i++) {
        if (strcmp (argv [i], "-h") == 0 || strcmp (argv [i], "--help") == 0) {
            s_usage (stdout);
            return 0;
        }
        if (strcmp (argv [i], "--force") == 0)
            force = true;
        else
        if (argv [i][0] == '-' || path) {
            s_usage (stderr);
            return 2;
        }
        else
            path = argv [i];
    }
    if (!path) {
        s_usage (stderr);
        return 2;
    }
    geak_curve_keypair_t kp;
    geak_rc_t rc = geak_curve_keypair_generate (&kp);
    if (rc != GEAK_OK) {
        fprintf (stderr, "geak keygen: this libzmq has no CURVE support\n");
        return 1;
    }
    rc = geak_curve_keypair_save (path, &kp, force);
    if (rc != GEAK_OK) {
        geak_curve_keypair_wipe (&kp);
        if (rc == GEAK_E_EXISTS)
            fprintf (stderr, "geak keygen: %s exists (use --force to replace it)\n", path);
        else
            fprintf (stderr, "geak keygen: cannot write %s: %s\n", path, strerror (errno));
        return 1;
    }
    char fingerprint [GEAK_CURVE_FINGERPRINT_SIZE];
    geak_curve_fingerprint (kp.public_key, fingerprint);
    printf ("%s\n", kp.public_key);
    fflush (stdout);
    fprintf (stderr, "geak keygen: wrote %s (fingerprint %s)\n", path, fingerprint);
    geak_curve_keypair_wipe (&kp);
    return 0;
}
