/*
 * Resource quantities in the form a real API server stores them.
 *
 * The rules are upstream's resource.Quantity.CanonicalizeBytes
 * (k8s.io/apimachinery/pkg/api/resource/quantity.go, with AsCanonicalBytes
 * and AsCanonicalBase1024Bytes in amount.go): the suffix sets the format
 * (binary Ki..Ei, decimal exponent e<n>, or decimal SI n..E and none); the
 * value is rounded up to nano precision when parsed; a binary value below
 * 1024 in magnitude, or not a whole number, prints as decimal SI; decimal
 * forms print an integer mantissa with the exponent lowered to a multiple of
 * three; binary forms divide by 1024 while they can.
 *
 * The value is held as nano-units in a 128-bit integer, which covers every
 * quantity up to about 1.7e29; larger ones (upstream falls back to arbitrary
 * precision) are refused with -ERANGE and left to the caller to keep as
 * written.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "quantity.h"

typedef __int128 i128;

#define NANO 1000000000LL
#define I128_MAX ((i128)(((unsigned __int128)1 << 127) - 1))

enum qfmt { Q_DECIMAL_SI, Q_DECIMAL_EXP, Q_BINARY_SI };

static const char *const dec_suffix[] = { "n", "u", "m", "", "k", "M", "G", "T", "P", "E" };
static const char *const bin_suffix[] = { "", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei" };

static bool mul_ok(i128 *v, i128 m)
{
	if (*v > I128_MAX / m)
		return false;
	*v *= m;
	return true;
}

/* Reads the suffix at s: sets *fmt, and the factor 10^*exp10 or
 * 1024^*exp1024. Returns false when s is no suffix. */
static bool parse_suffix(const char *s, enum qfmt *fmt, int *exp10, int *exp1024)
{
	static const char dec[] = "num kMGTPE";
	static const char bin[] = " KMGTPE";
	const char *p;

	*exp10 = 0;
	*exp1024 = 0;
	*fmt = Q_DECIMAL_SI;
	if (!*s)
		return true;
	if (s[1] == 'i' && !s[2] && *s != ' ' && (p = strchr(bin, *s))) {
		*fmt = Q_BINARY_SI;
		*exp1024 = (int)(p - bin);
		return true;
	}
	if (!s[1] && *s != ' ' && (p = strchr(dec, *s))) {
		*exp10 = (int)(p - dec) * 3 - 9;
		return true;
	}
	if (*s == 'e' || *s == 'E') {
		int sign = 1, e = 0, n = 0;

		s++;
		if (*s == '+' || *s == '-')
			sign = *s++ == '-' ? -1 : 1;
		for (; *s >= '0' && *s <= '9' && n < 4; s++, n++)
			e = e * 10 + (*s - '0');
		if (!n || *s)
			return false;
		*fmt = Q_DECIMAL_EXP;
		*exp10 = sign * e;
		return true;
	}
	return false;
}

/* Parses s into nano-units (rounded up in magnitude) and its format. */
static int parse(const char *s, i128 *nanos, enum qfmt *fmt)
{
	i128 v = 0;
	int neg = 0, frac = 0, digits = 0, exp10, exp1024;
	bool dot = false;
	const char *p = s;

	if (*p == '+' || *p == '-')
		neg = *p++ == '-';
	for (; (*p >= '0' && *p <= '9') || *p == '.'; p++) {
		if (*p == '.') {
			if (dot)
				return -EINVAL;
			dot = true;
			continue;
		}
		if (v == 0 && *p == '0') {
			frac += dot;
			continue;
		}
		if (++digits > 36)
			return -ERANGE;
		v = v * 10 + (*p - '0');
		frac += dot;
	}
	if (p == s + neg || (p == s + neg + 1 && dot))
		return -EINVAL;
	if (!parse_suffix(p, fmt, &exp10, &exp1024))
		return -EINVAL;
	for (int i = 0; i < exp1024; i++)
		if (!mul_ok(&v, 1024))
			return -ERANGE;
	/* v * 10^(9 + exp10 - frac) nano-units */
	int shift = 9 + exp10 - frac;
	for (; shift > 0; shift--)
		if (v && !mul_ok(&v, 10))
			return -ERANGE;
	if (shift < 0) {
		i128 div = 1;
		bool rest = false;

		for (; shift < 0 && div <= I128_MAX / 10; shift++)
			div *= 10;
		if (shift < 0) /* far below a nano: rounds up to one */
			v = v ? 1 : 0;
		else {
			rest = v % div != 0;
			v = v / div + rest;
		}
	}
	*nanos = neg ? -v : v;
	return 0;
}

/* Appends the decimal digits of v (> 0) to out. */
static int put_i128(char *out, size_t n, const char *sign, i128 v, const char *suffix,
		    int exp)
{
	char digits[48];
	int i = (int)sizeof(digits) - 1;

	digits[i] = '\0';
	do {
		digits[--i] = (char)('0' + (int)(v % 10));
		v /= 10;
	} while (v && i > 0);
	int w = suffix ? snprintf(out, n, "%s%s%s", sign, digits + i, suffix)
		       : snprintf(out, n, "%s%se%d", sign, digits + i, exp);
	return w < 0 || (size_t)w >= n ? -EMSGSIZE : 0;
}

int kube_quantity_canonical(const char *in, char *out, size_t outlen)
{
	enum qfmt fmt;
	i128 v;
	int r, exp = -9;

	if (!in || !out || !outlen)
		return -EINVAL;
	r = parse(in, &v, &fmt);
	if (r < 0)
		return r;
	if (v == 0)
		return snprintf(out, outlen, "0") >= (int)outlen ? -EMSGSIZE : 0;
	const char *sign = v < 0 ? "-" : "";
	if (v < 0)
		v = -v;
	if (fmt == Q_BINARY_SI && (v < (i128)1024 * NANO || v % NANO))
		fmt = Q_DECIMAL_SI;
	if (fmt == Q_BINARY_SI) {
		int k = 0;

		v /= NANO;
		while (v % 1024 == 0 && k < 6) {
			v /= 1024;
			k++;
		}
		return put_i128(out, outlen, sign, v, bin_suffix[k], 0);
	}
	while (v % 10 == 0) {
		v /= 10;
		exp++;
	}
	/* lower the exponent to a multiple of three (-9 is one) */
	while ((exp + 9) % 3) {
		if (!mul_ok(&v, 10))
			return -ERANGE;
		exp--;
	}
	if (fmt == Q_DECIMAL_EXP)
		return exp ? put_i128(out, outlen, sign, v, NULL, exp)
			   : put_i128(out, outlen, sign, v, "", 0);
	/* beyond E, the mantissa grows (as in hack/localcluster/quantity.py) */
	for (; exp > 18; exp--)
		if (!mul_ok(&v, 10))
			return -ERANGE;
	return put_i128(out, outlen, sign, v, dec_suffix[(exp + 9) / 3], 0);
}
