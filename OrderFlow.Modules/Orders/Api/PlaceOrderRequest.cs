using System.Text.Json.Serialization;
using FluentValidation;

namespace OrderFlow.Orders.Api;

/// <summary>Body of <c>POST /orders</c>. The server computes the total; a client total is not accepted.</summary>
public sealed class PlaceOrderRequest
{
    public string? UserId { get; set; }
    public List<PlaceOrderItem?>? Items { get; set; }

    /// <summary>ISO 4217 code; optional. With it or a shipping address the order is announced as OrderCreated v2.</summary>
    public string? Currency { get; set; }

    public PlaceOrderAddress? ShippingAddress { get; set; }

    [JsonExtensionData]
    public Dictionary<string, System.Text.Json.JsonElement>? Unknown { get; set; }
}

public sealed class PlaceOrderAddress
{
    public string? Line1 { get; set; }
    public string? City { get; set; }
    public string? PostalCode { get; set; }
    public string? Country { get; set; }
}

public sealed class PlaceOrderItem
{
    public string? ProductId { get; set; }
    public int? Quantity { get; set; }
    public decimal? Price { get; set; }

    /// <summary>Fields the API does not know (a <c>line_total</c>, a <c>discount</c>): refused, like unknown fields of the order.</summary>
    [JsonExtensionData]
    public Dictionary<string, System.Text.Json.JsonElement>? Unknown { get; set; }
}

internal sealed class PlaceOrderRequestValidator : AbstractValidator<PlaceOrderRequest>
{
    public const int MaxItems = 100;
    public const int MaxQuantity = 10_000;
    public const decimal MaxPrice = 1_000_000m;
    // \z, not $: in .NET, $ also matches before a final newline, so "USER-1\n" would pass.
    internal const string IdPattern = @"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}\z";

    public PlaceOrderRequestValidator()
    {
        RuleFor(r => r.UserId).Cascade(CascadeMode.Stop)
            .NotEmpty().WithMessage("user_id is required")
            .Matches(IdPattern).WithMessage("user_id must be 1-64 letters, digits or _ . : - (starting with a letter or digit)")
            .OverridePropertyName("user_id");

        RuleFor(r => r.Items).Cascade(CascadeMode.Stop)
            .NotEmpty().WithMessage("items must contain at least one item")
            .Must(items => items!.Count <= MaxItems).WithMessage($"an order holds at most {MaxItems} items")
            .OverridePropertyName("items");

        // No CascadeMode.Stop here: on a collection rule it stops at the first invalid item, and
        // every invalid item must be named. The child validator skips a null item by itself.
        RuleFor(r => r.Currency).Matches("^[A-Z]{3}$").WithMessage("currency must be an ISO 4217 code such as EUR")
            .OverridePropertyName("currency");
        RuleFor(r => r.ShippingAddress!).SetValidator(new PlaceOrderAddressValidator()).When(r => r.ShippingAddress is not null)
            .OverridePropertyName("shipping_address");

        RuleForEach(r => r.Items)
            .NotNull().WithMessage("item must be an object")
            .SetValidator(new PlaceOrderItemValidator()!)
            .OverridePropertyName("items");
    }
}

internal sealed class PlaceOrderItemValidator : AbstractValidator<PlaceOrderItem>
{
    public PlaceOrderItemValidator()
    {
        RuleFor(i => i.ProductId).Cascade(CascadeMode.Stop)
            .NotEmpty().WithMessage("product_id is required")
            .Matches(PlaceOrderRequestValidator.IdPattern).WithMessage("product_id must be 1-64 letters, digits or _ . : -")
            .OverridePropertyName("product_id");
        RuleFor(i => i.Quantity).Cascade(CascadeMode.Stop)
            .NotNull().WithMessage("quantity is required")
            .InclusiveBetween(1, PlaceOrderRequestValidator.MaxQuantity).WithMessage($"quantity must be between 1 and {PlaceOrderRequestValidator.MaxQuantity}")
            .OverridePropertyName("quantity");
        RuleFor(i => i.Price).Cascade(CascadeMode.Stop)
            .NotNull().WithMessage("price is required")
            .GreaterThan(0).WithMessage("price must be greater than 0")
            .LessThanOrEqualTo(PlaceOrderRequestValidator.MaxPrice).WithMessage($"price must be at most {PlaceOrderRequestValidator.MaxPrice}")
            .Must(p => decimal.Round(p!.Value, 2) == p.Value).WithMessage("price has at most 2 decimals")
            .OverridePropertyName("price");
    }
}

internal sealed class PlaceOrderAddressValidator : AbstractValidator<PlaceOrderAddress>
{
    public PlaceOrderAddressValidator()
    {
        RuleFor(a => a.Line1).NotEmpty().WithMessage("line1 is required").MaximumLength(200).WithMessage("line1 has at most 200 characters")
            .OverridePropertyName("line1");
        RuleFor(a => a.City).NotEmpty().WithMessage("city is required").MaximumLength(100).WithMessage("city has at most 100 characters")
            .OverridePropertyName("city");
        RuleFor(a => a.PostalCode).NotEmpty().WithMessage("postal_code is required").Matches("^[A-Za-z0-9 -]{2,12}$")
            .WithMessage("postal_code must be 2-12 letters, digits, spaces or dashes").OverridePropertyName("postal_code");
        RuleFor(a => a.Country).NotEmpty().WithMessage("country is required").Matches("^[A-Z]{2}$")
            .WithMessage("country must be an ISO 3166 alpha-2 code such as DE").OverridePropertyName("country");
    }
}
