// The worker protocol: jobs and records survive a trip through one JSON line exactly.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "common/error.h"
#include "dispatch/wire.h"

namespace nos::dispatch {
namespace {

TEST(Wire, JobsRoundTrip) {
  Job job;
  job.id = 42;
  job.debug = "hang";
  job.request.rule = "exp(sign(g)*sign(m))*g \"quoted\" \\ \n é";
  job.request.task = "fmnist-convnet";
  job.request.epochs = 3;
  job.request.lr = 0.1 + 0.2;
  job.request.lr_grid = {1e-5, 1.0 / 3};
  job.request.seed = 18446744073709551615ull;
  job.request.train_size = 4000;
  job.request.test_every_epoch = false;
  job.request.time_limit = 2.5;
  job.request.recipe = tasks::parse_recipe_text("schedule: cosine,warmup=0.1,t_mult=2; weight_decay: 0.30000000000000004",
                                                "test");
  const std::string line = encode_job(job);
  EXPECT_EQ(line.find('\n'), std::string::npos);
  const Job back = decode_job(line);
  EXPECT_EQ(back.id, 42);
  EXPECT_EQ(back.debug, "hang");
  EXPECT_EQ(back.request.rule, job.request.rule);
  EXPECT_EQ(back.request.task, job.request.task);
  EXPECT_EQ(back.request.epochs, 3);
  EXPECT_EQ(back.request.lr, 0.1 + 0.2);  // bit for bit
  EXPECT_EQ(back.request.lr_grid, job.request.lr_grid);
  EXPECT_EQ(back.request.seed, job.request.seed);
  EXPECT_EQ(back.request.train_size, 4000);
  EXPECT_FALSE(back.request.test_every_epoch);
  EXPECT_EQ(back.request.time_limit, 2.5);
  EXPECT_EQ(back.request.recipe.weight_decay, 0.1 + 0.2);  // bit for bit
  EXPECT_EQ(back.request.recipe.schedule.t_mult, 2);
  EXPECT_EQ(encode_job(back), line);
  // The recipe's keys are written only when set: a job at the default recipe carries none and reads as it.
  Job plain;
  plain.request.rule = "adam";
  const std::string plain_line = encode_job(plain);
  for (const std::string& key : tasks::recipe_keys()) EXPECT_EQ(plain_line.find(key), std::string::npos) << plain_line;
  EXPECT_TRUE(tasks::is_default(decode_job(plain_line).request.recipe));
  // The dispatcher's own settings (threads, data folders, kill grace, population) do not travel: the worker has its
  // own from its command line, and "population" is a population job's member list.
  for (const char* key : {"\"threads\"", "\"data_dir\"", "\"cache_dir\"", "\"kill_grace\"", "\"population\""}) {
    EXPECT_EQ(plain_line.find(key), std::string::npos) << key << " in " << plain_line;
  }
}

TEST(Wire, RecordsRoundTripWithNonFiniteNumbersAsNaN) {
  tasks::EvalRecord r;
  r.rule = "g";
  r.canonical = "g";
  r.task = "rosenbrock";
  r.status = tasks::Status::kOk;
  r.reward = 0.123456789012345678;
  r.val_acc = std::numeric_limits<double>::quiet_NaN();
  r.final_loss = std::numeric_limits<double>::infinity();
  r.lr = 1e-3;
  r.grid.push_back({0.1, tasks::Status::kDiverged, 7, 1e300, 0, 0.5});
  r.epochs.push_back({1, 31, 0.7, 0.8, std::nan(""), 1.5, 0.01});
  const JobResult back = decode_result(encode_result(7, r));
  EXPECT_EQ(back.id, 7);
  EXPECT_EQ(back.record.reward, r.reward);
  EXPECT_TRUE(std::isnan(back.record.val_acc));
  EXPECT_TRUE(std::isnan(back.record.final_loss));
  ASSERT_EQ(back.record.grid.size(), 1u);
  EXPECT_EQ(back.record.grid[0].status, tasks::Status::kDiverged);
  EXPECT_EQ(back.record.grid[0].train_loss, 1e300);
  ASSERT_EQ(back.record.epochs.size(), 1u);
  EXPECT_EQ(back.record.epochs[0].steps, 31);
  EXPECT_TRUE(std::isnan(back.record.epochs[0].test_acc));
}

// Messages cross the wire as JSON strings (search/json_text.h): quotes, backslashes, control characters and UTF-8
// come back as sent; a byte that is not UTF-8 comes back as U+FFFD rather than breaking the line.
TEST(Wire, MessagesRoundTripThroughJsonEscapes) {
  tasks::EvalRecord r;
  r.rule = "exp(sign(g)*sign(m))*g";
  r.status = tasks::Status::kError;
  r.message = "line 1:\t\"bad\" \\ \b\f\x01 — ŝ";
  const JobResult back = decode_result(encode_result(3, r));
  EXPECT_EQ(back.record.message, r.message);
  EXPECT_EQ(back.record.rule, r.rule);
  r.message = std::string("cut \xc3");
  EXPECT_EQ(decode_result(encode_result(3, r)).record.message, "cut \xef\xbf\xbd");
}

// A population job carries its members' requests, its result one record per member; a line without them is an
// ordinary job or result.
TEST(Wire, PopulationJobsAndResultsRoundTrip) {
  Job job;
  job.id = 7;
  for (const char* rule : {"adam", "sgd", "exp(sign(g)*sign(m))*g"}) {
    tasks::EvalRequest r;
    r.rule = rule;
    r.task = "fmnist-mlp";
    r.lr = std::string(rule) == "sgd" ? 0 : 0.1 + 0.2;
    r.lr_grid = {1e-3, 1.0 / 3};
    job.population.push_back(r);
  }
  job.request = job.population.front();
  const std::string line = encode_job(job);
  EXPECT_EQ(line.find('\n'), std::string::npos);
  const Job back = decode_job(line);
  ASSERT_EQ(back.population.size(), 3u);
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(back.population[i].rule, job.population[i].rule);
    EXPECT_EQ(back.population[i].lr, job.population[i].lr);
    EXPECT_EQ(back.population[i].lr_grid, job.population[i].lr_grid);
  }
  EXPECT_EQ(encode_job(back), line);
  Job plain;
  plain.request.rule = "adam";
  EXPECT_TRUE(decode_job(encode_job(plain)).population.empty());

  JobResult result;
  result.id = 7;
  for (const tasks::EvalRequest& r : job.population) {
    tasks::EvalRecord record;
    record.rule = r.rule;
    record.status = tasks::Status::kOk;
    record.reward = 0.1 + 0.2;
    record.val_acc = std::numeric_limits<double>::quiet_NaN();
    record.epochs.push_back({1, 10, 0.5, 0.75, 0.5, 1.5, 0.01});
    result.population.push_back(record);
  }
  result.record = result.population.front();
  const JobResult read = decode_result(encode_result(result));
  EXPECT_EQ(read.id, 7);
  ASSERT_EQ(read.population.size(), 3u);
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(read.population[i].rule, result.population[i].rule);
    EXPECT_EQ(read.population[i].reward, 0.1 + 0.2);
    EXPECT_TRUE(std::isnan(read.population[i].val_acc));
    ASSERT_EQ(read.population[i].epochs.size(), 1u);
    EXPECT_EQ(read.population[i].epochs[0].val_acc, 0.75);
  }
  EXPECT_EQ(encode_result(read), encode_result(result));
  EXPECT_TRUE(decode_result(encode_result(3, result.record)).population.empty());
  EXPECT_THROW(decode_job("{\"job\":1,\"population\":3}"), InternalError);
}

TEST(Wire, BrokenLinesAreInternalErrors) {
  EXPECT_THROW(decode_job("not json"), InternalError);
  EXPECT_THROW(decode_job("[1, 2]"), InternalError);
  EXPECT_THROW(decode_result("{\"job\": 1,"), InternalError);
  EXPECT_THROW(decode_result("{\"job\": \"one\"}"), InternalError);
  EXPECT_EQ(decode_job("{\"job\": 5, \"rule\": \"\\u00e9\\ud83d\\ude00\"}").request.rule, "é😀");
}

}  // namespace
}  // namespace nos::dispatch
