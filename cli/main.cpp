// The `nos` executable: sets up the C allocator for training, then hands the command line to nos::cli::run.
#include <malloc.h>

#include <cstdlib>
#include <iostream>

#include "cli/cli.h"

int main(int argc, char** argv) {
  // Training allocates and frees the same large activation buffers every step. With glibc's defaults blocks above
  // 128 KiB come from mmap and freed heap tops above 128 KiB go back to the kernel, so every step page-faults its
  // buffers afresh: measured 4-6x slower steps for the ConvNet on the CPU. Blocks up to 32 MiB (glibc's maximum)
  // stay on the heap, and the heap is trimmed only when 1 GiB lies free at its top.
  mallopt(M_MMAP_THRESHOLD, 32 << 20);
  mallopt(M_TRIM_THRESHOLD, 1 << 30);
  // Blocks above 32 MiB would still come from mmap and be unmapped when freed: a NOS ConvNet activation of a batch
  // of 256 CIFAR-10 images is exactly 32 MiB, and past it every step and evaluation batch page-faults (measured:
  // training at batch 256 4.9x slower, 570 against 2,782 samples/s; a validation pass at batch 256 10x slower than
  // at 192). So no block comes from mmap: freed ones stay in the heap for the next step. MALLOC_MMAP_MAX_ in the
  // environment keeps glibc's behaviour (for measuring this; docs/results/cifar10-fidelity).
  if (std::getenv("MALLOC_MMAP_MAX_") == nullptr) mallopt(M_MMAP_MAX, 0);
  return nos::cli::run(argc, argv, std::cout, std::cerr);
}
