import ArgumentParser
import GatehouseCore

/// `--component C [--instance I]`, or `--global`: where a change applies.
///
/// A change with no scope would touch every component, so it is never the
/// silent default: leaving out `--component` is an error unless `--global`
/// says so on purpose.
struct ScopeOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("Apply to every instance of this component, e.g. kubelet.", valueName: "component"), completion: Completions.components)
    var component: String?

    @Option(name: .long, help: ArgumentHelp("Apply to this one instance of --component only, e.g. node-17.", valueName: "id"))
    var instance: String?

    @Flag(name: .long, help: "Apply to every component and instance (instead of --component).")
    var global = false

    func validate() throws {
        if self.global {
            guard self.component == nil, self.instance == nil else {
                throw ValidationError("--global applies everywhere; leave out --component and --instance, or leave out --global")
            }
            return
        }
        guard self.component != nil else {
            if self.instance != nil { throw ValidationError("--instance needs --component: instance ids are per component") }
            throw ValidationError("say where: --component NAME [--instance ID], or --global for every component")
        }
    }

    /// The scope named; call after `validate()`.
    var scope: Scope {
        guard !self.global, let component = self.component else { return .global }
        if let instance = self.instance { return .instance(component: component, id: instance) }
        return .component(component)
    }
}
