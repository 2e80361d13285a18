using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace OrderFlow.Notification.Data.Migrations
{
    /// <inheritdoc />
    public partial class ModuleState : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.CreateTable(
                name: "notification_state",
                columns: table => new
                {
                    id = table.Column<int>(type: "INTEGER", nullable: false),
                    version = table.Column<long>(type: "INTEGER", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_notification_state", x => x.id);
                });

            migrationBuilder.InsertData(
                table: "notification_state",
                columns: new[] { "id", "version" },
                values: new object[] { 1, 0L });
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropTable(
                name: "notification_state");
        }
    }
}
