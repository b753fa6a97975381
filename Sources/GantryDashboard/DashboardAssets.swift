/// The dashboard's files, compiled into the binary (SwiftPM `embedInCode`): no request
/// leaves the host, and there is nothing to install beside gantryd.
enum DashboardAssets {
    static let login = PackageResources.login_html
    static let app = PackageResources.app_html
    static let appJS = PackageResources.app_js
    static let styleCSS = PackageResources.style_css
}
