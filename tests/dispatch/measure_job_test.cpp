// A measurement job (population: auto on a device): it crosses the wire, and the worker that gets it measures its
// own device instead of evaluating the request.
#include <gtest/gtest.h>

#include <string>

#include "common/error.h"
#include "dispatch/pool.h"
#include "dispatch/wire.h"

namespace nos::dispatch {
namespace {

// A measurement trains no child: evaluating anything fails the test.
class NoEvaluation : public tasks::Evaluator {
 public:
  tasks::EvalRecord evaluate(const tasks::EvalRequest&) override { throw InternalError("evaluated"); }
};

Job measure_job(const std::string& task, const std::string& device) {
  Job job;
  job.id = 4;
  job.request.rule = "adam";
  job.request.task = task;
  job.request.device = device;
  job.request.batch_size = 32;
  job.measure_population = true;
  return job;
}

TEST(MeasureJob, TheFlagAndTheAnswerRoundTrip) {
  const Job job = measure_job("fmnist-logreg", "cuda");
  const Job back = decode_job(encode_job(job));
  EXPECT_TRUE(back.measure_population);
  EXPECT_FALSE(decode_job(encode_job(Job())).measure_population);
  JobResult result;
  result.id = 4;
  result.population_k = 8;
  EXPECT_EQ(decode_result(encode_result(result)).population_k, 8);
  EXPECT_EQ(decode_result(encode_result(JobResult())).population_k, 0);
}

// Any device the worker has will do for the protocol: here the CPU, which trains logreg populations faster than one
// child (the measured table's 16), so the answer is a K of at least 2 and the rates of K = 1, 2, 4.
TEST(MeasureJob, TheWorkerMeasuresItsDeviceAndTrainsNothing) {
  NoEvaluation evaluator;
  const JobResult result = evaluate_job(evaluator, measure_job("fmnist-logreg", "cpu"), 2);
  EXPECT_EQ(result.id, 4);
  EXPECT_EQ(result.record.status, tasks::Status::kOk) << result.record.message;
  EXPECT_GE(result.population_k, 1);
  EXPECT_EQ(result.record.message.rfind("children-steps/s: K=1 ", 0), 0u) << result.record.message;
  EXPECT_NE(result.record.message.find(" K=64 "), std::string::npos) << result.record.message;
  EXPECT_TRUE(result.population.empty());
}

// A device the worker does not have: no K, and the reason for the dispatcher to say.
TEST(MeasureJob, ADeviceTheWorkerLacksGivesNoKAndTheReason) {
  NoEvaluation evaluator;
  const JobResult unknown = evaluate_job(evaluator, measure_job("nonesuch", "cpu"), 2);
  EXPECT_EQ(unknown.population_k, 0);
  EXPECT_EQ(unknown.record.status, tasks::Status::kError);
  EXPECT_NE(unknown.record.message.find("nonesuch"), std::string::npos) << unknown.record.message;
  const JobResult no_device = evaluate_job(evaluator, measure_job("fmnist-logreg", "nodevice"), 2);
  EXPECT_EQ(no_device.population_k, 0);
  EXPECT_NE(no_device.record.status, tasks::Status::kOk);
  EXPECT_FALSE(no_device.record.message.empty());
}

}  // namespace
}  // namespace nos::dispatch
