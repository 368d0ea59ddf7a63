/* PLACEHOLDER scalar conversions: replaced by the exact implementations. */
#include "tandem/formats.h"
float td_bf16_to_f32(uint16_t h)
{
    (void)h;
    return 0;
}
uint16_t td_f32_to_bf16(float f)
{
    (void)f;
    return 0;
}
float td_f16_to_f32(uint16_t h)
{
    (void)h;
    return 0;
}
uint16_t td_f32_to_f16(float f)
{
    (void)f;
    return 0;
}
float td_fp8_e4m3_to_f32(uint8_t v)
{
    (void)v;
    return 0;
}
uint8_t td_f32_to_fp8_e4m3(float f, bool saturate)
{
    (void)f;
    (void)saturate;
    return 0;
}
float td_fp8_e5m2_to_f32(uint8_t v)
{
    (void)v;
    return 0;
}
uint8_t td_f32_to_fp8_e5m2(float f, bool saturate)
{
    (void)f;
    (void)saturate;
    return 0;
}
