// flint-bridge: attaches a pod netns to a Linux bridge through a veth pair.
#include "cni/bridge/bridge_commands.h"
#include "cni/lib/plugin_main.h"

int main() {
  return flint::cni::RunPlugin({flint::cni::BridgeAdd, flint::cni::BridgeCheck, flint::cni::BridgeDel,
                                flint::cni::BridgeStatus, flint::cni::BridgeGc});
}
