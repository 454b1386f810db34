// `flintctl flist pack-image IMAGE OUT.fl --store URL [--tag KEY=VALUE]...`: packs an OCI image
// that flintd already has (pulled over CRI) into an flist, uploading its blocks to the store.
// flintd names the image's unpacked layer dirs (ImageStatus verbose info); they are stacked
// read-only with overlayfs (which applies whiteouts and opaque dirs) and the merged tree is
// packed like a directory. Needs root (mount).
#pragma once

#include <ostream>
#include <string>
#include <vector>

namespace flint::ctl {

// `args` are the words after `pack-image`. Returns the process exit code (2: usage).
int RunPackImage(const std::string& socket, const std::vector<std::string>& args, std::ostream& out,
                 std::ostream& err);

}  // namespace flint::ctl
