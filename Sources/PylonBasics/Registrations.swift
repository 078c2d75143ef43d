/// Values registered under fresh ids until closed: the callers waiting for an answer, the
/// subscribers to a signal. Its owner keeps it inside a lock and calls the values outside it.
public struct Registrations<Value> {
    private var nextID = 0
    private var values: [Int: Value] = [:]
    /// No value is taken any more.
    public private(set) var isClosed = false

    public init() {}

    /// Registers `value` under a new id; nil once closed.
    public mutating func add(_ value: Value) -> Int? {
        guard !isClosed else { return nil }
        let id = nextID
        nextID += 1
        values[id] = value
        return id
    }

    /// Takes the value of `id` out, if it is still there.
    public mutating func remove(_ id: Int) -> Value? {
        values.removeValue(forKey: id)
    }

    /// Every value registered now.
    public var all: [Value] { Array(values.values) }

    public var count: Int { values.count }

    /// Closes, and takes out every value still registered.
    public mutating func close() -> [Value] {
        isClosed = true
        defer { values.removeAll() }
        return Array(values.values)
    }
}

extension Registrations: Sendable where Value: Sendable {}
