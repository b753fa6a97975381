public import GantryModel
import GantryAccounting

extension CoordinatorCore {
    /// An agent finished its handshake and sent `Register`.
    ///
    /// A node id that already has a session is taken over by the new one (the agent
    /// restarted or reconnected); the old session is closed. Attempts the agent reports
    /// running are adopted if still current, and cancelled otherwise; attempts the
    /// coordinator had on the node that the agent neither runs nor holds a result for
    /// were lost with the agent's previous life, and are retried.
    ///
    /// `handshakeNodeID` is the node id the session authenticated as; a Register naming
    /// another is refused, and the session closed.
    public mutating func agentRegistered(
        session: SessionID, address: String, handshakeNodeID: NodeID?, registration reg: Registration, now: Timestamp
    ) -> [CoordinatorDirective] {
        var out: [CoordinatorDirective] = []
        let id = reg.nodeID
        var replaced = false
        guard handshakeNodeID == id else {
            let e = GantryError(.badHello, "Register names node \(id) but the handshake named \(handshakeNodeID?.rawValue ?? "none")")
            return [.error(session, e, fatal: true)]
        }
        if let previous = sessionNodes[session], previous != id {
            return [.error(session, GantryError(.unexpectedMessage, "this session is already registered as node \(previous)"), fatal: true)]
        }
        if var node = nodes[id] {
            if let old = node.session, old != session {
                sessionNodes[old] = nil
                out.append(.close(old, reason: "replaced by a new session of node \(id) from \(address)"))
                replaced = true
            }
            unindex(node)
            node.session = session
            node.address = address
            node.labels = reg.labels
            node.inventory = reg.inventory
            node.cost = reg.cost
            node.software = reg.software
            node.engines = reg.engines
            node.connectedAt = now
            node.lastHeartbeat = now
            node.lost = false
            node.idleEnergyBaseline = nil
            node.effectiveCost = settings.effectiveCost(node: id, labels: reg.labels, reported: reg.cost)
            node.meter.pool = node.pool
            node.meter.setRates(CostRates(node.effectiveCost), now: now)
            nodes[id] = node
        } else {
            nodes[id] = NodeRecord(
                registration: reg, session: session, address: address, now: now,
                cost: settings.effectiveCost(node: id, labels: reg.labels, reported: reg.cost))
        }
        sessionNodes[session] = id
        index(nodes[id]!)
        out.append(.notice(.nodeRegistered(id, address: address, replacedSession: replaced)))

        // Reconcile attempts.
        var cancel: [AttemptRef] = []
        let reported = Set(reg.running).union(reg.spooled)
        for ref in reg.running {
            if isCurrent(ref, on: id) {
                nodes[id]!.hold(ref, engine: jobs[ref.job]?.job.currentAttempt?.engine ?? "")
                nodes[id]!.meter.hold(ref, now: now)
                // Left assigned by a restart before its start was written: it runs (and
                // must not be taken back as never accepted).
                out += start(ref, on: id, now: now) ?? []
            } else {
                cancel.append(ref)
            }
        }
        for (ref, _) in nodes[id]!.active where !reported.contains(ref) {
            out += endAttempt(ref, as: .lost, reason: "the agent on \(id) restarted without it", now: now)
        }
        var registered = Registered(nodeID: id, state: nodes[id]!.state, cancel: cancel)
        registered.heartbeatAcks = reg.heartbeatAcks
        nodes[id]!.heartbeatAcks = reg.heartbeatAcks
        out.append(.send(session, .registered(registered)))
        out.append(.wakeUp(at: now + settings.ttlMs + 1))
        markDirty(node: id)
        capacityEpoch &+= 1
        out += schedule(now: now)
        return withPersistence(out)
    }

    /// A heartbeat: the node is alive; engine health and host stats are refreshed.
    mutating func heartbeat(_ hb: Heartbeat, from id: NodeID, now: Timestamp) -> [CoordinatorDirective] {
        // The record is read in place and changed in place: a node's record is large, and
        // 10,000 agents send one each a second.
        guard let old = nodes[id]?.engines else { return [] }
        let grew = capacityGrew(from: old, to: hb.engines)
        // A node whose engines or models changed is filed again under its new models.
        let refile = !old.elementsEqual(hb.engines, by: { $0.models == $1.models && $0.name == $1.name })
        if refile, let node = nodes[id] { unindex(node) }
        let replyTo = nodes.update(id) { node -> SessionID? in
            node.engines = hb.engines
            node.stats = hb.stats
            node.lastHeartbeat = now
            let idleEnergy = hb.stats.idleEnergyMillijoules
            if let base = node.idleEnergyBaseline, idleEnergy >= base {
                node.meter.addIdleEnergy(Int64(clamping: idleEnergy - base), measured: hb.stats.energyMeasured)
            }
            node.idleEnergyBaseline = idleEnergy
            return node.heartbeatAcks ? node.session : nil
        }
        if refile, let node = nodes[id] { index(node) }
        if nodes[id]?.driftDue == true { sampleTokenDrift(id, now: now) }
        // Agents that asked hear back, so they notice a coordinator gone silent.
        let ack: [CoordinatorDirective] = replyTo.flatMap { $0 }.map { [.send($0, .heartbeatAck(seq: hb.seq))] } ?? []
        guard grew else { return ack }
        capacityEpoch &+= 1
        return ack + schedule(now: now)
    }

    /// A connection closed. An agent's node stays as it is until `ttl` passes without a
    /// heartbeat; only then is it `lost` and its work retried, so a brief network blip
    /// does not restart every running job.
    public mutating func sessionClosed(_ session: SessionID, now: Timestamp) -> [CoordinatorDirective] {
        // The jobs first, then the changes: changing `watchers` while going through it
        // would copy it.
        let watched = watchers.compactMap { job, list in list.contains { $0.session == session } ? job : nil }
        for job in watched {
            let kept = watchers[job]!.filter { $0.session != session }
            watchers[job] = kept.isEmpty ? nil : kept
        }
        guard let id = sessionNodes.removeValue(forKey: session) else { return [] }
        nodes[id]?.session = nil
        return [.notice(.nodeDisconnected(id))]
    }

    /// Periodic work: nodes silent for `ttl` become lost, unanswered assignments are
    /// taken back, and the queue is given another chance.
    public mutating func tick(now: Timestamp) -> [CoordinatorDirective] {
        var out: [CoordinatorDirective] = []
        for id in nodes.ids {
            guard let node = nodes[id], !node.lost else { continue }
            let silent = now - node.lastHeartbeat
            if silent > settings.ttlMs {
                out += markLost(id, silentForMs: silent, now: now)
            }
        }
        out += expireAssignments(now: now)
        out += schedule(now: now)
        flushIdle(now: now, olderThanMs: settings.idleFlushMs)
        if let due = startsDue, due <= now { flushStarts() }
        if let next = nextDeadline() { out.append(.wakeUp(at: next)) }
        return withPersistence(out)
    }

    /// The earliest time `tick` has something to do: a node's heartbeat ttl running out,
    /// an assignment's accept timeout, a node's idle cost to flush, starts to write.
    func nextDeadline() -> Timestamp? {
        var next: Timestamp? = startsDue
        func consider(_ t: Timestamp) { next = next.map { min($0, t) } ?? t }
        for node in nodes.values {
            consider(node.lastIdleFlush + settings.idleFlushMs)
            guard !node.lost else { continue }
            consider(node.lastHeartbeat + settings.ttlMs + 1)
        }
        // `expireAssignments` left the oldest assignment still awaiting its accept in front.
        if let oldest = assignDeadlines.oldest { consider(oldest.assignedAt + settings.assignTimeoutMs + 1) }
        return next
    }

    /// Writes idle cost accrued on each node (those last flushed `olderThanMs` ago).
    mutating func flushIdle(now: Timestamp, olderThanMs: Int64) {
        for id in nodes.ids {
            guard now - nodes[id]!.lastIdleFlush >= olderThanMs else { continue }
            var outside: Int64 = 0
            for name in nodes[id]!.drift.keys { outside += nodes[id]!.drift[name]!.takeOutside() }
            var idle = nodes[id]!.meter.takeIdle(now: now)
            if outside > 0 {
                idle = idle ?? IdleAccrual(node: id, pool: nodes[id]!.pool, from: nodes[id]!.lastIdleFlush, to: now)
                idle!.outsideTokens = outside
            }
            nodes[id]!.lastIdleFlush = now
            if let idle {
                pendingNotices.append(.idleAccrued(idle))
                pendingIdle.append(idle)
            }
        }
    }

    /// Before a report: every node's idle cost up to now, as `.persist` directives.
    public mutating func flushAllIdle(now: Timestamp) -> [CoordinatorDirective] {
        flushIdle(now: now, olderThanMs: 0)
        return withPersistence([])
    }

    mutating func markLost(_ id: NodeID, silentForMs: Int64, now: Timestamp) -> [CoordinatorDirective] {
        guard var node = nodes[id] else { return [] }
        var out: [CoordinatorDirective] = [.notice(.nodeLost(id, silentForMs: silentForMs))]
        node.lost = true
        if let session = node.session {
            sessionNodes[session] = nil
            node.session = nil
            out.append(.close(session, reason: "no heartbeat for \(silentForMs) ms; node \(id) is lost"))
        }
        nodes[id] = node
        for ref in node.active.keys.sorted(by: { $0.job < $1.job }) {
            out += endAttempt(ref, as: .lost, reason: "node \(id) was lost (no heartbeat for \(silentForMs) ms)", now: now)
        }
        return out
    }

    /// Admin: cordon, uncordon or drain a node.
    mutating func setNode(_ id: NodeID, _ action: NodeAction, now: Timestamp) -> (Result<AdminResponse, GantryError>, [CoordinatorDirective]) {
        guard var node = nodes[id] else { return (.failure(unknownNode(id)), []) }
        let before = node.state
        switch action {
        case .cordon: node.cordoned = true
        case .drain: node.draining = true
        case .uncordon:
            node.cordoned = false
            node.draining = false
        }
        nodes[id] = node
        markDirty(node: id)
        var out: [CoordinatorDirective] = []
        if node.state != before { out.append(.notice(.nodeStateChanged(id, node.state))) }
        if action == .uncordon {
            capacityEpoch &+= 1
            out += schedule(now: now)
        }
        return (.success(.node(nodeInfo(id)!)), out)
    }

    func nodeInfo(_ id: NodeID) -> NodeInfo? {
        guard let node = nodes[id] else { return nil }
        return node.info(costMicroUSDPerHour: node.costPerHourNow)
    }

    func unknownNode(_ id: NodeID) -> GantryError {
        GantryError(.notFound, "node \(id) is not known to this coordinator")
    }

    mutating func index(_ node: NodeRecord) {
        guard let slot = nodes.slot(of: node.id) else { return }
        for model in Set(node.engines.flatMap(\.models)) { nodesByModel[model, default: NodeRing()].insert(slot) }
    }

    mutating func unindex(_ node: NodeRecord) {
        guard let slot = nodes.slot(of: node.id) else { return }
        for model in Set(node.engines.flatMap(\.models)) {
            nodesByModel[model]?.remove(slot)
            if nodesByModel[model]?.isEmpty == true { nodesByModel[model] = nil }
        }
    }

    private func capacityGrew(from old: [EngineStatus], to new: [EngineStatus]) -> Bool {
        guard old.count == new.count else { return true }
        for (a, b) in zip(old, new) {
            if a.name != b.name || a.models != b.models { return true }
            if b.healthy && (!a.healthy || b.slots > a.slots || lighter(a.telemetry, b.telemetry)) { return true }
        }
        return false
    }

    /// Whether an engine's own figures went down (others' requests, its queue, its KV use),
    /// which may let a job that found no room find some.
    private func lighter(_ a: EngineTelemetry?, _ b: EngineTelemetry?) -> Bool {
        guard let a else { return false }
        guard let b else { return true }
        return b.outside < a.outside || (b.waiting ?? 0) < (a.waiting ?? 0) || (b.kvUsage ?? 0) < (a.kvUsage ?? 0)
    }
}
