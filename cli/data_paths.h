// Where the CLI looks for data sets and caches when the user names none (library code never reads the environment).
#pragma once

#include <string>
#include <vector>

#include "common/executable.h"  // executable_dir

namespace nos::cli {

// Candidate CIFAR-10 folders, in order: ../shared/data/cifar10-jpeg from the current directory, then from the
// repository the executable was built in (<exe dir>/../.. and <exe dir>/..).
std::vector<std::string> cifar10_candidates();

// The data folder for `dataset` ("fmnist", "cifar10"): `given` when not empty; else "" for Fashion-MNIST (the
// loader's default, /usr/share/datasets/fashion-mnist) and the first existing CIFAR-10 candidate. Throws UserError
// naming the places tried and `setting`, how this command takes a folder ("--data-dir", "task.data_dir in the
// config"), when CIFAR-10 is nowhere.
std::string resolve_data_dir(const std::string& dataset, const std::string& given, const std::string& setting,
                             const std::vector<std::string>& candidates = cifar10_candidates());

// `given` when not empty, else $XDG_CACHE_HOME/nos, else $HOME/.cache/nos, else "" (no cache).
std::string resolve_cache_dir(const std::string& given);

}  // namespace nos::cli
