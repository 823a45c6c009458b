import Engine
import Foundation
import Storage
import WorkloadSpec

/// Picks account ids by the spec's distribution: uniform, zipfian (YCSB's generator, Gray et
/// al. "Quickly generating billion-record synthetic databases"), or a hot set.
///
/// Zipf ranks are scattered over the key space by a multiplicative hash so the hottest accounts
/// are not the lowest ids (as YCSB's "scrambled zipfian").
struct KeyChooser: Sendable {
    private enum Kind: Sendable {
        case uniform
        case zipf(theta: Double, alpha: Double, zetan: Double, eta: Double)
        case hotspot(hotCount: UInt64, probability: Double)
    }

    private let kind: Kind
    /// The number of accounts keys are drawn from.
    let count: UInt64

    init(distribution: WorkloadSpec.KeyDistribution, count: Int) {
        precondition(count >= 2, "a transfer needs two accounts; the spec validates accounts >= 2")
        self.count = UInt64(count)
        switch distribution {
        case .uniform:
            kind = .uniform
        case .zipf(let theta):
            let n = Double(count)
            let zetan = KeyChooser.zeta(count, theta)
            let zeta2 = KeyChooser.zeta(2, theta)
            let alpha = 1 / (1 - theta)
            let eta = (1 - pow(2 / n, 1 - theta)) / (1 - zeta2 / zetan)
            kind = .zipf(theta: theta, alpha: alpha, zetan: zetan, eta: eta)
        case .hotspot(let fraction, let probability):
            kind = .hotspot(hotCount: max(1, UInt64(Double(count) * fraction)), probability: probability)
        }
    }

    /// Bound on the work of precomputing zeta(n): O(n) once per driver, fine up to 10^8 accounts.
    private static func zeta(_ n: Int, _ theta: Double) -> Double {
        var sum = 0.0
        for i in 1...max(1, n) { sum += 1 / pow(Double(i), theta) }
        return sum
    }

    /// The next key.
    func next(_ random: inout SplitMix64) -> UInt64 {
        switch kind {
        case .uniform:
            return random.next() % count
        case .zipf(let theta, let alpha, let zetan, let eta):
            let u = Double(random.next() >> 11) / Double(1 << 53)
            let uz = u * zetan
            let rank: UInt64
            if uz < 1 {
                rank = 0
            } else if uz < 1 + pow(0.5, theta) {
                rank = 1
            } else {
                // YCSB's formula is exact for theta < 1; for theta > 1 its base can go negative
                // (a NaN power), which the clamp sends to the hottest rank, as the mass is there.
                let scaled = Double(count) * pow(eta * u - eta + 1, alpha)
                rank = scaled.isFinite && scaled >= 0 ? UInt64(min(scaled, Double(count - 1))) : 0
            }
            return (rank &* 0x9E37_79B9_7F4A_7C15) % count
        case .hotspot(let hotCount, let probability):
            let u = Double(random.next() >> 11) / Double(1 << 53)
            if u < probability || hotCount >= count { return random.next() % hotCount }
            return hotCount + random.next() % (count - hotCount)
        }
    }

    /// Two distinct keys.
    func pair(_ random: inout SplitMix64) -> (UInt64, UInt64) {
        let first = next(&random)
        var second = next(&random)
        var attempts = 0
        while second == first && attempts < 16 {
            second = next(&random)
            attempts += 1
        }
        if second == first { second = (first + 1 + random.next() % (count - 1)) % count }
        return (first, second)
    }
}
