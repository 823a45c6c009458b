import WorkloadSpec

extension TransferClass {
    /// Dense index of the class, for fixed arrays on the recording hot path (no dictionaries).
    var slot: Int {
        switch self {
        case .singleRegion: 0
        case .crossRegion: 1
        case .global: 2
        }
    }

    /// The number of classes, the length of the fixed per-class arrays.
    static let slotCount = 3
}

extension MetricLayer {
    /// Dense index of the layer, for fixed arrays on the recording hot path.
    var slot: Int {
        switch self {
        case .endToEnd: 0
        case .l2: 1
        case .l1: 2
        case .l0: 3
        }
    }

    /// The number of layers, the length of the fixed per-layer arrays.
    static let slotCount = 4
}
