/* Tandem: algorithm-hardware co-design of neural networks. Umbrella header. */
#ifndef TANDEM_TANDEM_H
#define TANDEM_TANDEM_H
#include "tandem/status.h"
#include "tandem/core.h"
#include "tandem/tensor.h"
#include "tandem/formats.h"
#include "tandem/kernels.h"
#include "tandem/sparse.h"
#endif
