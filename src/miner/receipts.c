/* SPDX-License-Identifier: MIT */
/* Filing the receipts a pool sends: verify the signature (common/receipt.c),
 * add up this miner's shares, and append the receipt in its canonical form
 * (sorted keys, compact: the bytes the signature covers, plus the signature)
 * to the data directory's receipts file, or to the rejected file. */
#include "miner/receipts.h"

#include "common/receipt.h"

#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int append_line(const char *dir, const char *name, const char *line, char err[FIEF_ERR_LEN])
{
    char path[PATH_MAX];
    if ((size_t)snprintf(path, sizeof path, "%s/%s", dir, name) >= sizeof path)
        return fief_errf(err, FIEF_EIO, "%s: path too long", dir);
    FILE *f = fopen(path, "a");
    if (!f)
        return fief_errf(err, FIEF_EIO, "cannot open %s: %s", path, strerror(errno));
    bool ok = fputs(line, f) >= 0 && fputc('\n', f) != EOF;
    ok = fclose(f) == 0 && ok;
    return ok ? 0 : fief_errf(err, FIEF_EIO, "cannot write %s: %s", path, strerror(errno));
}

static void my_shares(json_t *receipt, const char *my_pubkey, struct receipts_share *out)
{
    size_t i;
    json_t *m;
    memset(out, 0, sizeof *out);
    const char *model = json_string_value(json_object_get(receipt, "model"));
    snprintf(out->model, sizeof out->model, "%s", model ? model : "?");
    out->cost = json_integer_value(json_object_get(receipt, "cost"));
    json_array_foreach(json_object_get(receipt, "miners"), i, m)
    {
        const char *who = json_string_value(json_object_get(m, "miner"));
        if (who && my_pubkey && !strcmp(who, my_pubkey)) {
            out->earned += json_integer_value(json_object_get(m, "amount"));
            out->tokens += (uint32_t)json_integer_value(json_object_get(m, "tokens"));
        }
    }
}

int receipts_file(const char *dir, const char *pool_key, const char *my_pubkey,
                  const struct proto_receipt *r, struct receipts_share *out, char err[FIEF_ERR_LEN])
{
    char *line = json_dumps(r->receipt, JSON_COMPACT | JSON_SORT_KEYS);
    if (!line)
        return fief_errf(err, FIEF_EFORMAT, "the receipt of %s cannot be written as JSON",
                         r->request);
    int rc = receipt_verify(line, pool_key && *pool_key ? pool_key : NULL, err);
    char why[FIEF_ERR_LEN];
    int wrc = append_line(dir, rc ? RECEIPTS_REJECTED : RECEIPTS_FILE, line, why);
    free(line);
    if (rc == 0)
        my_shares(r->receipt, my_pubkey, out);
    else
        memset(out, 0, sizeof *out);
    if (wrc && rc == 0)
        return fief_errf(err, wrc, "%s", why);
    return rc;
}
