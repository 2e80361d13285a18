namespace OrderFlow.Inventory;

/// <summary>Inventory module settings (<c>OrderFlow:Modules:Inventory</c>).</summary>
public sealed class InventoryOptions
{
    public bool Enabled { get; set; } = true;

    /// <summary>
    /// The product catalogue and its starting stock: product id → quantity. Products are added to
    /// the store at start-up when missing; stock already in the store is never overwritten.
    /// </summary>
    public Dictionary<string, int> Catalog { get; set; } = new();
}
