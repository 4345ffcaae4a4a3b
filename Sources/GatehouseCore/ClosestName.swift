/// "Did you mean …?": the known name closest to one that was not found.
///
/// Closeness is the Levenshtein edit distance, compared without regard to
/// case (so `inplacepodverticalscaling` finds `InPlacePodVerticalScaling`).
/// A name is only suggested when it is close enough to be a plausible typo:
/// at most a third of the longer name's length (and at least 1, at most 4) edits away.
public enum ClosestName {
    /// The candidate closest to `name`, or nil when none is plausibly what was meant.
    /// Ties go to the candidate that sorts first, so the answer does not depend on the order given.
    public static func suggestion(for name: String, among candidates: some Sequence<String>) -> String? {
        let wanted = Array(name.lowercased().unicodeScalars)
        var best: (distance: Int, name: String)?
        for candidate in candidates where candidate != name {
            let other = Array(candidate.lowercased().unicodeScalars)
            let allowed = Swift.min(4, Swift.max(1, Swift.max(wanted.count, other.count) / 3))
            // The length difference alone rules most candidates out cheaply.
            guard abs(wanted.count - other.count) <= allowed else { continue }
            let distance = Self.distance(wanted, other)
            guard distance <= allowed else { continue }
            if let current = best, (current.distance, current.name) <= (distance, candidate) { continue }
            best = (distance, candidate)
        }
        return best?.name
    }

    /// The Levenshtein distance between two strings: insertions, deletions and substitutions of one scalar.
    public static func distance(_ a: String, _ b: String) -> Int {
        Self.distance(Array(a.unicodeScalars), Array(b.unicodeScalars))
    }

    static func distance(_ a: [Unicode.Scalar], _ b: [Unicode.Scalar]) -> Int {
        guard !a.isEmpty else { return b.count }
        guard !b.isEmpty else { return a.count }
        var previous = Array(0...b.count)
        var current = [Int](repeating: 0, count: b.count + 1)
        for i in 1...a.count {
            current[0] = i
            for j in 1...b.count {
                let substitution = previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1)
                current[j] = Swift.min(substitution, previous[j] + 1, current[j - 1] + 1)
            }
            swap(&previous, &current)
        }
        return previous[b.count]
    }
}
