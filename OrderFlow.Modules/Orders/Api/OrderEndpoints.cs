using System.Text.Json;
using System.Text.Json.Serialization;
using FluentValidation;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using OrderFlow.Messaging;
using OrderFlow.Orders.Data;

namespace OrderFlow.Orders.Api;

/// <summary>The order API of SPEC §5. Every client error is a 4xx with RFC 7807 problem details.</summary>
internal static partial class OrderEndpoints
{
    public const string IdempotencyKeyHeader = "Idempotency-Key";

    private static readonly JsonSerializerOptions RequestJson = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        UnmappedMemberHandling = JsonUnmappedMemberHandling.Skip,
        NumberHandling = JsonNumberHandling.Strict,
        MaxDepth = 8,
        // {"user_id":"A","user_id":"B"}: a proxy or log that reads the first and this API the last
        // would disagree about who ordered; refused instead.
        AllowDuplicateProperties = false,
    };

    public static IEndpointRouteBuilder MapOrderEndpoints(this IEndpointRouteBuilder app)
    {
        var orders = app.MapGroup("/orders").WithTags("Orders");
        orders.MapPost("", PlaceAsync)
            .WithName("PlaceOrder").WithSummary("Create an order")
            .Accepts<PlaceOrderRequest>("application/json")
            .Produces<OrderAccepted>(StatusCodes.Status202Accepted)
            .ProducesValidationProblem()
            .ProducesProblem(StatusCodes.Status409Conflict);
        orders.MapGet("{id}", GetAsync).WithName("GetOrder").WithSummary("An order with its history")
            .Produces<OrderView>().ProducesProblem(StatusCodes.Status404NotFound);
        orders.MapGet("", ListAsync).WithName("ListOrders").WithSummary("Orders, newest first, paged")
            .Produces<OrderPage>().ProducesValidationProblem();
        orders.MapPost("{id}/cancel", CancelAsync).WithName("CancelOrder").WithSummary("Cancel an order that is not terminal yet")
            .Produces<OrderView>(StatusCodes.Status202Accepted)
            .ProducesProblem(StatusCodes.Status404NotFound).ProducesProblem(StatusCodes.Status409Conflict);
        return app;
    }

    private static async Task<IResult> PlaceAsync(HttpRequest http, OrderPlacement placement, IValidator<PlaceOrderRequest> validator,
        ILoggerFactory loggers, CancellationToken cancellationToken)
    {
        // A wrong content type never gets here: the Accepts metadata makes routing answer 415.
        PlaceOrderRequest? request;
        try
        {
            request = await JsonSerializer.DeserializeAsync<PlaceOrderRequest>(http.Body, RequestJson, cancellationToken);
        }
        catch (JsonException ex)
        {
            // A syntax error (inner JsonReaderException) is the body's fault, not the field's where the reader stopped.
            var field = ex.InnerException is JsonException ? null : FieldOf(ex.Path);
            return field is null
                ? Results.Problem(statusCode: StatusCodes.Status400BadRequest, title: "The body is not valid JSON", detail: ex.Message)
                : Results.ValidationProblem(new Dictionary<string, string[]> { [field] = [ex.Message.StartsWith("Duplicate", StringComparison.Ordinal)
                    ? $"{field} appears more than once" : $"{field} has the wrong type or format"] },
                    title: "One or more fields are invalid");
        }
        if (request is null)
            return Results.Problem(statusCode: StatusCodes.Status400BadRequest, title: "The body is empty", detail: "Send an order object.");

        var validation = await validator.ValidateAsync(request, cancellationToken);
        var errors = validation.Errors
            .GroupBy(e => e.PropertyName.TrimEnd('.'))
            .ToDictionary(g => g.Key, g => g.Select(e => e.ErrorMessage).Distinct().ToArray());
        if (request.Unknown is { Count: > 0 } unknown)
        {
            foreach (var name in unknown.Keys)
                errors[name] = [name == "total_amount" ? "total_amount is computed by the server; do not send it" : $"unknown field {name}"];
        }
        for (var i = 0; i < (request.Items?.Count ?? 0); i++)
        {
            foreach (var name in request.Items![i]?.Unknown?.Keys ?? Enumerable.Empty<string>())
                errors[$"items[{i}].{name}"] = [name == "line_total" ? "line_total is computed by the server; do not send it" : $"unknown field {name}"];
        }
        if (errors.Count > 0) return Results.ValidationProblem(errors, title: "One or more fields are invalid");

        var key = http.Headers[IdempotencyKeyHeader].FirstOrDefault();
        if (key is not null && (key.Length is 0 or > 128 || key.Any(char.IsControl)))
            return Results.ValidationProblem(new Dictionary<string, string[]> { [IdempotencyKeyHeader] = ["Idempotency-Key must be 1-128 printable characters"] });

        var result = await placement.PlaceAsync(NewOrder.From(request), key, cancellationToken);
        if (result.Outcome == PlaceOutcome.KeyConflict)
            return Results.Problem(statusCode: StatusCodes.Status409Conflict, title: "Idempotency-Key reused",
                detail: $"The key was first used for order {result.Order.Id} with a different body.");

        if (result.Outcome == PlaceOutcome.Created)
            LogAccepted(loggers.CreateLogger("OrderFlow.Orders.Api"), result.Order.Id, LogMask.UserId(result.Order.UserId),
                http.HttpContext.User.Identity?.Name ?? "anonymous", result.Order.Items.Count, result.Order.TotalAmount);
        var location = $"/orders/{result.Order.Id}";
        return Results.Accepted(location, new OrderAccepted(result.Order.Id, result.Order.Status.ToString(), result.Order.TotalAmount, location));
    }

    private static async Task<IResult> GetAsync(string id, OrdersDbContext db, CancellationToken cancellationToken)
    {
        var order = await db.Orders.AsNoTracking().FirstOrDefaultAsync(o => o.Id == id, cancellationToken);
        return order is null ? NotFound(id) : Results.Ok(OrderView.From(order));
    }

    private static async Task<IResult> ListAsync(OrdersDbContext db, IOptions<OrdersOptions> options, CancellationToken cancellationToken,
        string? status = null, string? page = null, string? page_size = null)
    {
        var errors = new Dictionary<string, string[]>();
        OrderStatus? wanted = null;
        if (!string.IsNullOrEmpty(status))
        {
            // Not Enum.TryParse: it also takes comma-joined names ("Rejected,Cancelled") and ORs them into another status.
            if (Enum.GetNames<OrderStatus>().FirstOrDefault(n => n.Equals(status, StringComparison.OrdinalIgnoreCase)) is { } name) wanted = Enum.Parse<OrderStatus>(name);
            else errors["status"] = [$"status must be one of {string.Join(", ", Enum.GetNames<OrderStatus>())}"];
        }
        var pageNumber = 1;
        if (!string.IsNullOrEmpty(page) && (!int.TryParse(page, out pageNumber) || pageNumber < 1 || pageNumber > 1_000_000))
            errors["page"] = ["page must be a whole number from 1"];
        var size = 20;
        if (!string.IsNullOrEmpty(page_size) && (!int.TryParse(page_size, out size) || size < 1 || size > options.Value.MaxPageSize))
            errors["page_size"] = [$"page_size must be between 1 and {options.Value.MaxPageSize}"];
        if (errors.Count > 0) return Results.ValidationProblem(errors, title: "Invalid query");

        var query = db.Orders.AsNoTracking();
        if (wanted is { } s) query = query.Where(o => o.Status == s);
        var total = await query.CountAsync(cancellationToken);
        var rows = await query.OrderByDescending(o => o.CreatedAt).ThenByDescending(o => o.Id)
            .Skip((pageNumber - 1) * size).Take(size)
            .Select(o => new { o.Id, o.UserId, o.Status, o.Reason, o.TotalAmount, o.CreatedAt, o.UpdatedAt })
            .ToListAsync(cancellationToken);
        var items = rows.Select(o => new OrderSummary(o.Id, o.UserId, o.Status.ToString(), o.Reason, o.TotalAmount, o.CreatedAt, o.UpdatedAt)).ToList();
        return Results.Ok(new OrderPage(items, pageNumber, size, total));
    }

    private static async Task<IResult> CancelAsync(string id, OrderPlacement placement, CancellationToken cancellationToken)
    {
        var result = await placement.CancelAsync(id, cancellationToken);
        return result.Outcome switch
        {
            CancelOutcome.NotFound => NotFound(id),
            CancelOutcome.AlreadyTerminal => Results.Problem(statusCode: StatusCodes.Status409Conflict, title: "The order is already final",
                detail: $"Order {id} is {result.Order!.Status} and can no longer be cancelled."),
            _ => Results.Accepted($"/orders/{id}", OrderView.From(result.Order!)),
        };
    }

    private static IResult NotFound(string id) =>
        Results.Problem(statusCode: StatusCodes.Status404NotFound, title: "Order not found", detail: $"There is no order {id}.");

    // The user id is masked: logs are read by more people, and kept longer, than the order store.
    [LoggerMessage(LogLevel.Information, "Order {OrderId} accepted for {User} from {Client}: {Items} item(s), total {Total}")]
    private static partial void LogAccepted(ILogger logger, string orderId, string user, string client, int items, decimal total);

    /// <summary>"$.items[0].quantity" → "items[0].quantity"; null for the root.</summary>
    private static string? FieldOf(string? path) =>
        path is null || path == "$" ? null : path.StartsWith("$.", StringComparison.Ordinal) ? path[2..] : path.TrimStart('$');
}
