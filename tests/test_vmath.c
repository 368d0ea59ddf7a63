/* The vectorizable exp and erf (src/kernels/vmath.h) against libm (double precision as the
 * oracle): exp within 3 ulp over its whole finite range, erf within 2.5e-7 absolute, and the
 * special values. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "kernels/vmath.h"
#include "td_test.h"

static double ulps(float got, double want)
{
    float w = (float)want;
    float step = nextafterf(w, INFINITY) - w;
    return fabs((double)got - want) / (double)step;
}

static void test_exp(void)
{
    double worst = 0;
    float at = 0;
    for (float x = -87.0f; x < 88.5f; x += 1.0e-3f) {
        double u = ulps(td_vexpf(x), exp((double)x));
        if (u > worst) {
            worst = u;
            at = x;
        }
    }
    printf("vexpf: worst %.2f ulp at %g\n", worst, at);
    TD_CHECK(worst <= 3.0, "exp error %.2f ulp at %g", worst, at);
    TD_CHECK(td_vexpf(0.0f) == 1.0f, "exp(0) = %g", td_vexpf(0.0f));
    TD_CHECK(td_vexpf(-200.0f) == 0.0f, "exp(-200) = %g", td_vexpf(-200.0f));
    TD_CHECK(isinf(td_vexpf(200.0f)), "exp(200) = %g", td_vexpf(200.0f));
    TD_CHECK(isnan(td_vexpf(NAN)), "exp(nan) = %g", td_vexpf(NAN));
    TD_CHECK(td_vexpf(-INFINITY) == 0.0f, "exp(-inf) = %g", td_vexpf(-INFINITY));
}

static void test_erf(void)
{
    double worst = 0;
    float at = 0;
    for (float x = -7.0f; x < 7.0f; x += 1.0e-4f) {
        double e = fabs((double)td_verff(x) - erf((double)x));
        if (e > worst) {
            worst = e;
            at = x;
        }
    }
    printf("verff: worst %.3g absolute at %g\n", worst, at);
    TD_CHECK(worst <= 2.5e-7, "erf error %.3g at %g", worst, at);
    TD_CHECK(td_verff(0.0f) == 0.0f, "erf(0) = %g", td_verff(0.0f));
    TD_CHECK(td_verff(INFINITY) == 1.0f, "erf(inf) = %g", td_verff(INFINITY));
    TD_CHECK(td_verff(-INFINITY) == -1.0f, "erf(-inf) = %g", td_verff(-INFINITY));
    TD_CHECK(isnan(td_verff(NAN)), "erf(nan) = %g", td_verff(NAN));
    /* odd symmetry holds exactly */
    TD_CHECK(td_verff(-0.3f) == -td_verff(0.3f), "erf(-x) != -erf(x)");
}

int main(void)
{
    test_exp();
    test_erf();
    return td_test_finish("vmath");
}
