import GantryCoordinatorCore
import GantryModel
import Logging

extension Coordinator {
    /// Logs a cluster event with structured metadata (dotted keys, SSWG style).
    func log(_ notice: Notice) {
        switch notice {
        case .nodeRegistered(let id, let address, let replaced):
            logger.info(replaced ? "node re-registered, replacing its old session" : "node registered", metadata: [
                "node.id": "\(id)", "peer.address": "\(address)",
            ])
        case .nodeDisconnected(let id):
            logger.info("node disconnected; waiting for it to come back within the ttl", metadata: ["node.id": "\(id)"])
        case .nodeLost(let id, let silent):
            logger.warning("node lost", metadata: ["node.id": "\(id)", "silent_ms": "\(silent)"])
        case .nodeStateChanged(let id, let state):
            logger.info("node state changed", metadata: ["node.id": "\(id)", "node.state": "\(state.rawValue)"])
        case .jobPlaced(let ref, let node, let engine):
            logger.debug("job placed", metadata: ["job.id": "\(ref.job)", "job.attempt": "\(ref.attempt)", "node.id": "\(node)", "engine": "\(engine)"])
        case .attemptEnded(let ref, let node, let state, let reason):
            let level: Logger.Level = (state == .succeeded || state == .cancelled) ? .debug : .warning
            logger.log(level: level, "attempt ended", metadata: [
                "job.id": "\(ref.job)", "job.attempt": "\(ref.attempt)", "node.id": "\(node)",
                "attempt.state": "\(state.rawValue)", "reason": "\(reason ?? "-")",
            ])
        case .jobFinished(let id, let state, let model, let tenant, let usage):
            logger.debug("job finished", metadata: [
                "job.id": "\(id)", "job.state": "\(state.rawValue)", "job.model": "\(model)", "job.tenant": "\(tenant)",
                "tokens.completion": "\(usage.completionTokens)",
            ])
        case .billed(let entry):
            metrics.billed(entry)
        case .idleAccrued(let idle):
            metrics.idle(idle)
        case .tokenDrift(let engine, let r, let over):
            let metadata: Logger.Metadata = [
                "node.id": "\(engine.node)", "engine": "\(engine.engine)", "tokens.engine": "\(r.engineTokens)",
                "tokens.gantry": "\(r.gantryTokens)", "drift_ratio": "\(r.ratio)",
            ]
            if !over {
                logger.info("engine's token count agrees with Gantry's again", metadata: metadata)
            } else if r.ratio > 0 {
                logger.warning(
                    "engine generated tokens that no Gantry job accounts for: another client uses it, and its time is not paid by Gantry's jobs",
                    metadata: metadata)
            } else {
                logger.warning("Gantry accounts for more tokens than the engine says it generated: the accounting is wrong", metadata: metadata)
            }
        case .staleMessage(let ref, let node, let what):
            logger.info("stale message refused", metadata: ["job.id": "\(ref.job)", "job.attempt": "\(ref.attempt)", "node.id": "\(node)", "what": "\(what)"])
        }
    }
}
