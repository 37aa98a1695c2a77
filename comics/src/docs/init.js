// Renders the OpenAPI document of this server (relative to /api/v1/docs).
// No validator: nothing is sent to another host.
window.addEventListener("load", function () {
  window.ui = SwaggerUIBundle({
    url: "openapi.json",
    dom_id: "#swagger-ui",
    deepLinking: true,
    validatorUrl: null,
  });
});
