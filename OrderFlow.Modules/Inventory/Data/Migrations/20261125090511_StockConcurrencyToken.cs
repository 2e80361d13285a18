using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace OrderFlow.Inventory.Data.Migrations
{
    /// <summary>
    /// No schema change: inventory_stock.available became a concurrency token in EF's model (the
    /// guard of the stock cache, see StockCache); this migration keeps the model snapshot in step.
    /// </summary>
    public partial class StockConcurrencyToken : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {

        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {

        }
    }
}
