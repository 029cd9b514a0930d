/* SPDX-License-Identifier: MIT */
/* The ledger's arithmetic, pure and exact: a request's cost from prices and
 * token counts (rounded up), its split between the pool's fee and the miners
 * (largest remainder, so nothing is lost), and credits written as decimals.
 * Integers only; products go through 128 bits. */
#include "ledger/ledger.h"

#include <stdio.h>
#include <string.h>

typedef unsigned __int128 u128;

#define PER_MILLION 1000000u

int ledger_cost(uint64_t price_in, uint64_t price_out, uint64_t n_in, uint64_t n_out,
                int64_t *cost)
{
    /* Each product is < 2^128, but their sum may not be: check both. */
    u128 a = (u128)price_in * n_in, b = (u128)price_out * n_out;
    u128 total = a + b;
    if (total < a)
        return FIEF_ERANGE;
    u128 c = total / PER_MILLION + (total % PER_MILLION != 0);
    if (c > (u128)LEDGER_MAX_AMOUNT)
        return FIEF_ERANGE;
    *cost = (int64_t)c;
    return 0;
}

/* Index of the part that gets the next leftover micro-credit: the largest
 * remainder not yet served, the earliest on a tie. -1 when none is left. */
static int next_remainder(const u128 *rem, const bool *served, uint32_t n)
{
    int best = -1;
    for (uint32_t i = 0; i < n; i++)
        if (!served[i] && rem[i] > 0 && (best < 0 || rem[i] > rem[best]))
            best = (int)i;
    return best;
}

void ledger_split(int64_t cost, uint32_t fee_ppm, const struct store_job_part *parts,
                  uint32_t n_parts, struct ledger_split *out)
{
    memset(out, 0, sizeof *out);
    if (cost < 0)
        cost = 0;
    if (fee_ppm > PER_MILLION)
        fee_ppm = PER_MILLION;
    if (n_parts > STORE_JOB_MAX_PARTS)
        n_parts = STORE_JOB_MAX_PARTS;
    out->cost = cost;
    out->fee = (int64_t)((u128)cost * fee_ppm / PER_MILLION);
    out->n = n_parts;
    uint64_t tokens = 0;
    for (uint32_t i = 0; i < n_parts; i++) {
        snprintf(out->shares[i].pubkey, sizeof out->shares[i].pubkey, "%s", parts[i].pubkey);
        out->shares[i].tokens = parts[i].tokens;
        tokens += parts[i].tokens;
    }
    if (tokens == 0) { /* nobody to pay: the pool keeps it (a bug upstream) */
        out->fee = cost;
        return;
    }
    u128 rest = (u128)(cost - out->fee), given = 0, rem[STORE_JOB_MAX_PARTS];
    bool served[STORE_JOB_MAX_PARTS] = {false};
    for (uint32_t i = 0; i < n_parts; i++) {
        u128 x = rest * parts[i].tokens;
        out->shares[i].amount = (int64_t)(x / tokens);
        rem[i] = x % tokens;
        given += x / tokens;
    }
    /* The remainders sum to a multiple of tokens, each below it: there are
     * at least (rest - given) parts with one, so every leftover finds one. */
    for (u128 left = rest - given; left > 0; left--) {
        int i = next_remainder(rem, served, n_parts);
        served[i] = true;
        out->shares[i].amount++;
    }
}

/* ---- credits as text ---- */

int ledger_parse_credits(const char *s, int64_t *micro)
{
    if (!s || !*s)
        return FIEF_EINVAL;
    uint64_t whole = 0, frac = 0;
    unsigned decimals = 0;
    const char *p = s;
    for (; *p >= '0' && *p <= '9'; p++) {
        whole = whole * 10 + (uint64_t)(*p - '0');
        if (whole > (uint64_t)(LEDGER_MAX_AMOUNT / LEDGER_MICRO))
            return FIEF_ERANGE;
    }
    if (p == s)
        return FIEF_EINVAL; /* a sign, a leading '.', letters, spaces */
    if (*p == '.') {
        const char *q = ++p;
        for (; *p >= '0' && *p <= '9'; p++) {
            if (++decimals > 6)
                return FIEF_EINVAL;
            frac = frac * 10 + (uint64_t)(*p - '0');
        }
        if (p == q)
            return FIEF_EINVAL; /* "12." */
    }
    if (*p)
        return FIEF_EINVAL;
    for (; decimals < 6; decimals++)
        frac *= 10;
    uint64_t v = whole * (uint64_t)LEDGER_MICRO + frac;
    if (v > (uint64_t)LEDGER_MAX_AMOUNT)
        return FIEF_ERANGE;
    *micro = (int64_t)v;
    return 0;
}

void ledger_format_credits(int64_t micro, char *out, size_t cap)
{
    /* Through uint64: -INT64_MIN does not fit an int64. */
    uint64_t m = micro < 0 ? 0 - (uint64_t)micro : (uint64_t)micro;
    uint64_t whole = m / (uint64_t)LEDGER_MICRO, frac = m % (uint64_t)LEDGER_MICRO;
    char digits[8];
    snprintf(digits, sizeof digits, "%06llu", (unsigned long long)frac);
    for (int i = 5; i >= 0 && digits[i] == '0'; i--)
        digits[i] = 0;
    snprintf(out, cap, "%s%llu%s%s", micro < 0 ? "-" : "", (unsigned long long)whole,
             digits[0] ? "." : "", digits);
}
