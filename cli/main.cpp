// The `nos` executable: sets up the C allocator for training, then hands the command line to nos::cli::run.
#include <malloc.h>

#include <iostream>

#include "cli/cli.h"

int main(int argc, char** argv) {
  // Training allocates and frees the same large activation buffers every step. With glibc's defaults blocks above
  // 128 KiB come from mmap and freed heap tops above 128 KiB go back to the kernel, so every step page-faults its
  // buffers afresh: measured 4-6x slower steps for the ConvNet on the CPU. Blocks up to 32 MiB (glibc's maximum)
  // stay on the heap, and the heap is trimmed only when 1 GiB lies free at its top.
  mallopt(M_MMAP_THRESHOLD, 32 << 20);
  mallopt(M_TRIM_THRESHOLD, 1 << 30);
  return nos::cli::run(argc, argv, std::cout, std::cerr);
}
