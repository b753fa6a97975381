import GantryModel
public import Hummingbird
import NIOCore

/// The HTTP listener's routes: `/healthz`, `/readyz` and `/metrics` (Prometheus text), for
/// load balancers and monitoring.
public struct HTTPRoutes: Sendable {
    let coordinator: Coordinator
    let metricsText: (@Sendable () -> String)?

    public init(coordinator: Coordinator, metricsText: (@Sendable () -> String)?) {
        self.coordinator = coordinator
        self.metricsText = metricsText
    }

    /// The routes, and `more` (the dashboard's) on the same listener.
    public func router(more: (@Sendable (Router<APIRequestContext>, Coordinator) -> Void)? = nil) -> Router<APIRequestContext> {
        let router = Router(context: APIRequestContext.self)
        let coordinator = self.coordinator
        router.get("/healthz") { _, _ in
            let s = await coordinator.status()
            let sessions = await coordinator.sessionCount
            let body = "{\"status\":\"ok\",\"nodes_ready\":\(s.nodes[.ready] ?? 0),\"queue_depth\":\(s.queueDepth),\"sessions\":\(sessions)}\n"
            return Self.text(body, type: "application/json")
        }
        // Ready to take work: this gantryd leads (a standby answers 503), for load balancers.
        router.get("/readyz") { _, _ in Self.text("ready\n", type: "text/plain") }
        if let metricsText {
            router.get("/metrics") { _, _ in
                await coordinator.refreshMetrics()
                ProcessMetrics.refresh()
                return Self.text(metricsText(), type: "text/plain; version=0.0.4; charset=utf-8")
            }
        }
        more?(router, coordinator)
        return router
    }

    static func text(_ body: String, type: String) -> Response {
        Response(status: .ok, headers: [.contentType: type], body: ResponseBody(byteBuffer: ByteBuffer(string: body)))
    }
}
