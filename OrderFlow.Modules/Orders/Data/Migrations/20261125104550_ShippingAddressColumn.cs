using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace OrderFlow.Orders.Data.Migrations
{
    /// <summary>
    /// No schema change: <c>shipping_address</c> keeps the same JSON text; the model maps it with a
    /// value converter instead of an owned JSON type (see OrdersDbContext).
    /// </summary>
    public partial class ShippingAddressColumn : Migration
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
