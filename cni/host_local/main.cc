// flint-host-local: IPAM from local range sets, state in files (reference-compatible).
#include "cni/host_local/host_local_commands.h"
#include "cni/lib/plugin_main.h"

int main() {
  return flint::cni::RunPlugin(
      {flint::cni::HostLocalAdd, flint::cni::HostLocalCheck, flint::cni::HostLocalDel, flint::cni::HostLocalStatus,
       flint::cni::HostLocalGc});
}
