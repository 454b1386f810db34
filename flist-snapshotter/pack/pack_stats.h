#pragma once

#include "flist-snapshotter/flist/model.h"
#include "flist-snapshotter/pack/v2_writer.h"

namespace flint::flist {

inline PackStats StatsOf(const Flist& flist, uint64_t uploaded) {
  const FlistStats s = flist.Stats();
  PackStats p;
  p.directories = s.directories;
  p.regular_files = s.regular_files;
  p.symlinks = s.symlinks;
  p.others = s.others;
  p.bytes = s.regular_bytes;
  p.blocks = s.blocks;
  p.blocks_uploaded = uploaded;
  return p;
}

}  // namespace flint::flist
