// Debian's faiss 1.7.3 has faiss::Index::idx_t but not the namespace-level faiss::idx_t
// that faiss-node's sources (written for faiss >= 1.7.4) use.
#pragma once
#include <cstdint>
namespace faiss { typedef int64_t idx_t; }
