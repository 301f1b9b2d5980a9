// What the engine needs from a distributed job, without including torch (so
// engine.h stays torch-free): distributed.cc implements it over c10d/Gloo.
// Every rank must make the same calls in the same order; a call fails
// (std::runtime_error naming the rank that stopped, when it can tell) when a
// peer is gone or does not answer within the job's operation timeout.
#pragma once

#include <vector>

namespace at {
class Tensor;
}

namespace torchdog {

class Collectives {
 public:
  virtual ~Collectives() = default;
  virtual int Rank() const = 0;
  virtual int WorldSize() const = 0;
  // Replaces each parameter's gradient with its mean over the ranks
  // (an undefined gradient counts as zeros).
  virtual void AverageGradients(const std::vector<at::Tensor>& parameters) = 0;
  // Overwrites `tensors` with rank 0's, on every rank; the same list (names,
  // shapes, dtypes, order) on every rank.
  virtual void Broadcast(const std::vector<at::Tensor>& tensors) = 0;
  // Element-wise sum over the ranks, in place.
  virtual void AllReduceSum(std::vector<double>& values) = 0;
};

}  // namespace torchdog
