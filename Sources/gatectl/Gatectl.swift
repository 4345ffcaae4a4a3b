import ArgumentParser
import GatehouseCore

/// `gatectl`: the admin command line.
@main
struct Gatectl: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gatectl",
        abstract: "Inspect and control a Gatehouse server.",
        discussion: """
            gatectl finds its client config (server address, CA, client certificate and
            key) in --config, then $GATEHOUSE_CONFIG, then ~/.gatehouse/config, then
            ./gatehouse-data/admin.conf (written by `gatehouse serve`).

            Examples:
              gatectl catalog import Examples/kubernetes-catalog.yaml
              gatectl features list --component kubelet
              gatectl enable InPlacePodVerticalScaling --component kubelet --reason "canary"
              gatectl unset InPlacePodVerticalScaling --component kubelet --reason "canary over"
              gatectl set kube-apiserver --feature-gates=A=true,B=false \\
                  --runtime-config=api/alpha=true,batch/v1beta1=false --reason "alpha APIs"
              gatectl export > gates.yaml; gatectl diff -f gates.yaml
              gatectl apply -f gates.yaml --reason "declared state"
              gatectl explain kubelet --instance node-17
              gatectl history InPlacePodVerticalScaling
              gatectl components kubelet
              gatectl status InPlacePodVerticalScaling
              gatectl watch kubelet --instance node-17
              gatectl rollout start InPlacePodVerticalScaling --component kubelet \\
                  --steps 1%,10%,50%,100% --bake 5m --reason "canary"
              gatectl rollout status r42 --watch
              gatectl version

            Shell completion, feature and component names included (asked of the server):
              gatectl --generate-completion-script bash|zsh|fish   (README: where each goes)

            Errors are printed on stderr as `gatectl: CODE: message`.
            Exit codes: 0 success; 64 bad usage; 65 refused (invalid or unsafe change);
            66 not found; 69 server unreachable or timed out; 70 server or protocol error;
            77 permission denied; 78 bad client config (or certificates the server or its
            CA do not accept).
            """,
        version: BuildVersion.current,
        subcommands: [
            VersionCommand.self,
            Info.self,
            Features.self,
            Apis.self,
            Enable.self,
            Disable.self,
            SetFlags.self,
            Unset.self,
            Apply.self,
            Diff.self,
            Export.self,
            Explain.self,
            History.self,
            Catalog.self,
            Components.self,
            Status.self,
            Watch.self,
            RolloutCommand.self,
        ]
    )
}
