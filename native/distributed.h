// A distributed job's process group: c10d's TCPStore (rank 0 serves it) and
// ProcessGroupGloo, from LibTorch itself. Torch-free, for the addon.
//
// Built only when LibTorch has c10d with Gloo and the gloo headers are
// present (Debian: libgloo-dev); otherwise DistributedAvailable() says why
// and JoinProcessGroup throws that message.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "collectives.h"

namespace torchdog {

struct ProcessGroupOptions {
  int rank = 0, world_size = 1;
  std::string master_addr;  // the TCPStore's host (rank 0 listens there)
  int master_port = 29500;
  // The local address Gloo binds and peers connect to ("" = by interface).
  std::string host;
  std::string interface;         // a network interface name, used when host is ""
  double connect_timeout_s = 60;  // TCPStore rendezvous: every rank must arrive in time
  double op_timeout_s = 60;       // one collective; a silent peer fails it after this
  double setup_timeout_s = 1800;  // the first broadcast, which waits for rank 0's set-up
  int64_t bucket_bytes = 25 << 20;  // gradients are all-reduced in buckets of about this size
};

// "" when this build can join a process group, otherwise why not.
std::string DistributedAvailable();
// Blocks until every rank has joined (or connect_timeout_s passes: a
// std::runtime_error naming the master and the ranks that did not arrive).
std::shared_ptr<Collectives> JoinProcessGroup(const ProcessGroupOptions& options);

}  // namespace torchdog
