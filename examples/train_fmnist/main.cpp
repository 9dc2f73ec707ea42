// Trains a small MLP on Fashion-MNIST with a rule given by name or as DSL text, through the installed nos package.
//
// Usage: train_fmnist [DATA_DIR [STEPS [RULE [LR]]]]
//   DATA_DIR: the IDX files train-{images-idx3,labels-idx1}-ubyte.gz (default Debian's dataset-fashion-mnist)
//   STEPS 100, RULE 'm/sqrt(v)' (Adam without its epsilon; or a named rule: powersign-cd, adamw, ...), LR 0.001;
//   prints the loss every 10 steps.
#include <torch/torch.h>
#include <zlib.h>

#include <cstdint>
#include <cstdio>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "dsl/dsl.h"
#include "optimizers/optimizers.h"

namespace {

std::vector<uint8_t> read_gz(const std::string& path) {
  gzFile file = gzopen(path.c_str(), "rb");
  if (file == nullptr) throw std::runtime_error("cannot open " + path);
  std::vector<uint8_t> bytes;
  uint8_t buffer[1 << 16];
  int n = 0;
  while ((n = gzread(file, buffer, sizeof buffer)) > 0) bytes.insert(bytes.end(), buffer, buffer + n);
  gzclose(file);
  if (n < 0) throw std::runtime_error("cannot read " + path);
  return bytes;
}

uint32_t big_endian(const uint8_t* p) {
  return (uint32_t(p[0]) << 24) | (uint32_t(p[1]) << 16) | (uint32_t(p[2]) << 8) | uint32_t(p[3]);
}

}  // namespace

int main(int argc, char** argv) {
  const std::string dir = argc > 1 ? argv[1] : "/usr/share/datasets/fashion-mnist";
  const int steps = argc > 2 ? std::stoi(argv[2]) : 100;
  const std::string rule = argc > 3 ? argv[3] : "m/sqrt(v)";
  const double lr = argc > 4 ? std::stod(argv[4]) : 1e-3;
  try {
    std::vector<uint8_t> images = read_gz(dir + "/train-images-idx3-ubyte.gz");
    std::vector<uint8_t> labels = read_gz(dir + "/train-labels-idx1-ubyte.gz");
    if (images.size() < 16 || big_endian(images.data()) != 2051 || labels.size() < 8 ||
        big_endian(labels.data()) != 2049) {
      throw std::runtime_error("not Fashion-MNIST IDX files in " + dir);
    }
    const int64_t count = std::min<int64_t>({big_endian(images.data() + 4), big_endian(labels.data() + 4), 10000});
    const torch::Tensor x = torch::from_blob(images.data() + 16, {count, 784}, torch::kUInt8).to(torch::kFloat32) / 255;
    const torch::Tensor y = torch::from_blob(labels.data() + 8, {count}, torch::kUInt8).to(torch::kLong);

    torch::manual_seed(0);
    torch::nn::Sequential model(torch::nn::Linear(784, 128), torch::nn::ReLU(), torch::nn::Linear(128, 10));
    // The rule: a named rule (with its own options, e.g. adamw's decoupled decay) or DSL text, resolved and run as a
    // torch::optim::Optimizer (T is read by decays such as cd). A misspelt name gets the name it is close to.
    const nos::optimizers::ResolvedRule resolved = nos::optimizers::resolve_rule(rule);
    nos::optimizers::RuleOptions options = resolved.defaults;
    options.lr(lr).total_steps(steps);
    const std::unique_ptr<torch::optim::Optimizer> optimizer =
        nos::optimizers::make_training_optimizer(resolved, {{model->parameters()}}, options);
    std::printf("rule %s, lr %g, %lld images\n", nos::optimizers::canonical_text(resolved).c_str(), lr,
                static_cast<long long>(count));
    const int64_t batch = 64;
    for (int step = 0; step < steps; ++step) {
      const int64_t at = (step * batch) % (count - batch);
      const torch::Tensor loss =
          torch::nn::functional::cross_entropy(model->forward(x.narrow(0, at, batch)), y.narrow(0, at, batch));
      optimizer->zero_grad();
      loss.backward();
      optimizer->step();
      if (step % 10 == 0 || step == steps - 1) std::printf("step %d loss %.4f\n", step, loss.item<double>());
    }
  } catch (const nos::dsl::RuleError& e) {
    std::fprintf(stderr, "%s\n", e.what());
    return 2;
  } catch (const nos::UserError& e) {
    std::fprintf(stderr, "train_fmnist: %s\n", e.what());
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "train_fmnist: %s\n", e.what());
    return 1;
  }
  return 0;
}
