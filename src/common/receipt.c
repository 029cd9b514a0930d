/* SPDX-License-Identifier: MIT */
/* Receipt verification: the shape a receipt must have (every field, integers
 * only, shares and fee adding up to the cost) and its ed25519 signature over
 * the canonical JSON (sorted keys, compact). See receipt.h. */
#include "common/receipt.h"

#include "common/digest.h"

#include <jansson.h>
#include <sodium.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DUMP_FLAGS (JSON_COMPACT | JSON_SORT_KEYS)

static const char *const str_fields[] = {"pool",  "pool_key", "request",
                                         "model", "digest",   "signature"};
static const char *const int_fields[] = {"v",        "prompt_tokens", "completion_tokens",
                                         "price_in", "price_out",     "cost",
                                         "fee",      "fee_ppm",       "time_ms"};
#define N_OF(a) (sizeof(a) / sizeof(a)[0])

/* Money is integers: a real anywhere makes it no receipt of ours. */
static bool has_real(json_t *v)
{
    size_t i;
    const char *k;
    json_t *x;
    if (json_is_real(v))
        return true;
    if (json_is_array(v)) {
        json_array_foreach(v, i, x)
        {
            if (has_real(x))
                return true;
        }
    }
    if (json_is_object(v)) {
        json_object_foreach(v, k, x)
        {
            if (has_real(x))
                return true;
        }
    }
    return false;
}

/* The miners' amounts and the fee must add up to the cost. */
static int miners_check(json_t *miners, json_int_t cost, json_int_t fee, char err[FIEF_ERR_LEN])
{
    size_t i;
    json_t *m;
    json_int_t sum = fee;
    if (!json_is_array(miners))
        return fief_errf(err, FIEF_EFORMAT, "not a receipt: \"miners\" is not an array");
    json_array_foreach(miners, i, m)
    {
        json_t *amount = json_object_get(m, "amount");
        if (!json_is_string(json_object_get(m, "miner")) ||
            !json_is_integer(json_object_get(m, "tokens")) || !json_is_integer(amount))
            return fief_errf(err, FIEF_EFORMAT,
                             "not a receipt: miner %zu lacks miner, tokens or amount", i);
        if (json_integer_value(amount) < 0 || json_integer_value(amount) > RECEIPT_MAX_AMOUNT)
            return fief_errf(err, FIEF_EFORMAT, "not a receipt: miner %zu's amount", i);
        sum += json_integer_value(amount);
    }
    if (sum != cost)
        return fief_errf(err, FIEF_EFORMAT,
                         "the miners' amounts and the fee (%lld) do not add up to the cost (%lld)",
                         (long long)sum, (long long)cost);
    return 0;
}

static int receipt_shape(json_t *o, char err[FIEF_ERR_LEN])
{
    if (!json_is_object(o))
        return fief_errf(err, FIEF_EFORMAT, "not a receipt: not a JSON object");
    for (size_t i = 0; i < N_OF(str_fields); i++)
        if (!json_is_string(json_object_get(o, str_fields[i])))
            return fief_errf(err, FIEF_EFORMAT, "not a receipt: no string \"%s\"", str_fields[i]);
    for (size_t i = 0; i < N_OF(int_fields); i++)
        if (!json_is_integer(json_object_get(o, int_fields[i])))
            return fief_errf(err, FIEF_EFORMAT, "not a receipt: no integer \"%s\"", int_fields[i]);
    if (has_real(o))
        return fief_errf(err, FIEF_EFORMAT, "not a receipt: it holds a non-integer number");
    if (json_integer_value(json_object_get(o, "v")) != RECEIPT_VERSION)
        return fief_errf(err, FIEF_EFORMAT, "receipt version %lld; this fief reads version %d",
                         (long long)json_integer_value(json_object_get(o, "v")), RECEIPT_VERSION);
    return miners_check(json_object_get(o, "miners"),
                        json_integer_value(json_object_get(o, "cost")),
                        json_integer_value(json_object_get(o, "fee")), err);
}

static int decode_hex(const char *hex, unsigned char *out, size_t n, const char *what,
                      char err[FIEF_ERR_LEN])
{
    if (strlen(hex) != 2 * n || hex_decode(hex, 2 * n, out, n) != 0)
        return fief_errf(err, FIEF_EFORMAT, "%s is not %zu hex digits", what, 2 * n);
    return 0;
}

static int verify_obj(json_t *o, const char *pubkey_hex, char err[FIEF_ERR_LEN])
{
    unsigned char pk[32], sig[crypto_sign_BYTES];
    int rc = receipt_shape(o, err);
    if (!rc)
        rc = decode_hex(json_string_value(json_object_get(o, "signature")), sig, sizeof sig,
                        "the signature", err);
    if (!rc)
        rc = pubkey_hex ? decode_hex(pubkey_hex, pk, sizeof pk, "the public key", err)
                        : decode_hex(json_string_value(json_object_get(o, "pool_key")), pk,
                                     sizeof pk, "pool_key", err);
    if (rc)
        return rc;
    json_object_del(o, "signature");
    char *msg = json_dumps(o, DUMP_FLAGS);
    if (!msg)
        return fief_errf(err, FIEF_ENOMEM, "out of memory");
    rc = crypto_sign_verify_detached(sig, (const unsigned char *)msg, strlen(msg), pk);
    free(msg);
    if (rc)
        return fief_errf(err, FIEF_EPROTO,
                         "bad signature: the receipt was changed after signing, or %s",
                         pubkey_hex ? "another key signed it" : "it is not signed by its pool_key");
    return 0;
}

int receipt_verify(const char *json, const char *pubkey_hex, char err[FIEF_ERR_LEN])
{
    if (sodium_init() < 0)
        return fief_errf(err, FIEF_EIO, "libsodium failed to initialise");
    json_error_t jerr;
    json_t *o = json_loads(json ? json : "", JSON_REJECT_DUPLICATES, &jerr);
    if (!o)
        return fief_errf(err, FIEF_EFORMAT, "not a receipt: not JSON (line %d: %s)", jerr.line,
                         jerr.text);
    int rc = verify_obj(o, pubkey_hex, err);
    json_decref(o);
    return rc;
}

const char *receipt_credits(int64_t micro, char out[32])
{
    /* Through uint64_t: -INT64_MIN does not fit an int64_t. */
    uint64_t m = micro < 0 ? 0 - (uint64_t)micro : (uint64_t)micro;
    snprintf(out, 32, "%s%llu.%06llu", micro < 0 ? "-" : "", (unsigned long long)(m / 1000000),
             (unsigned long long)(m % 1000000));
    return out;
}
