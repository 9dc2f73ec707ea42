// The `nos` executable: hands the command line to nos::cli::run.
#include <iostream>

#include "cli/cli.h"

int main(int argc, char** argv) { return nos::cli::run(argc, argv, std::cout, std::cerr); }
